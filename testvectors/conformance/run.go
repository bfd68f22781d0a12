package conformance

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tagseal/tagseal/testvectors"
)

// DefaultTimeout is how long the harness waits for one answer.
const DefaultTimeout = 30 * time.Second

// StartTimeout is the least the harness waits for the first answer
// (capabilities), which may include the testee's start-up: a JVM, or a
// command that compiles first.
const StartTimeout = 2 * time.Minute

// Config is one harness run against one testee.
type Config struct {
	// Testee is the command line that starts the testee (run with sh -c).
	Testee string
	// WorkDir is the testee's working directory ("" for the current one).
	WorkDir string
	// Dir holds the vectors (testvectors/v1).
	Dir string
	// Only, when set, keeps the vectors whose name matches one of its
	// comma-separated path.Match globs.
	Only string
	// FailureList is the testee's failure-list file ("" for none).
	FailureList string
	// Fix rewrites FailureList to the failures of this run.
	Fix bool
	// Timeout bounds each answer (DefaultTimeout when 0).
	Timeout time.Duration
	// Verbose also prints passes and skips.
	Verbose bool
	// Out gets the results; Log gets the testee's stderr, prefixed.
	Out, Log io.Writer
}

// Outcome is a case's result.
type Outcome int

// Outcomes; a listed failure that fails is Known, one that passes is Stale.
const (
	Passed Outcome = iota
	Failed
	Known
	Skipped
	Stale
)

func (o Outcome) String() string {
	return [...]string{"PASS", "FAIL", "KNOWN", "SKIP", "STALE"}[o]
}

// Result is one case: a vector and an operation.
type Result struct {
	Vector, Op string
	Outcome    Outcome
	// Reason is why it failed or was skipped (for Known: what went wrong);
	// Why is the failure list's reason for a Known or Stale case.
	Reason, Why string
}

// Report is a run's results.
type Report struct {
	Testee  string
	Results []Result
	// StaleEntries are failure-list entries that name no case of the run.
	StaleEntries []string
}

// Count returns how many results had the outcome.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome == o {
			n++
		}
	}
	return n
}

// Summary is the one-line result: "NAME: N passed, N failed, N known
// failures, N skipped". Stale failure-list entries count as failed.
func (r *Report) Summary() string {
	return fmt.Sprintf("%s: %d passed, %d failed, %d known failures, %d skipped", r.Testee,
		r.Count(Passed), r.Count(Failed)+r.Count(Stale)+len(r.StaleEntries), r.Count(Known), r.Count(Skipped))
}

// OK reports whether the run passes: no unlisted failure, no stale entry.
func (r *Report) OK() bool {
	return r.Count(Failed) == 0 && r.Count(Stale) == 0 && len(r.StaleEntries) == 0
}

// Run starts the testee, drives it over the vectors, prints a line per
// failure, known failure and stale entry and the summary line to Out, and
// returns the report. The error is for a run that could not happen (no
// vectors, a testee that does not start or answer capabilities).
func Run(cfg Config) (*Report, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	vectors, err := testvectors.Load(cfg.Dir)
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for _, v := range vectors {
		all[v.Name] = true
	}
	vectors, err = filter(vectors, cfg.Only)
	if err != nil {
		return nil, err
	}
	fl := &FailureList{}
	if cfg.FailureList != "" {
		if fl, err = LoadFailureList(cfg.FailureList); err != nil {
			return nil, err
		}
	}
	h := &harness{cfg: cfg}
	if err := h.start(); err != nil {
		return nil, err
	}
	defer func() { h.proc.stop(5 * time.Second) }()
	rep := &Report{Testee: h.caps.Name}
	ran := map[string]bool{} // name:op of every case
	for i := range vectors {
		v := &vectors[i]
		for _, op := range opsFor(v) {
			res := h.run(v, op)
			ran[v.Name+":"+op] = true
			if e, listed := fl.Find(v.Name, op); listed {
				res.Why = e.Why
				switch res.Outcome {
				case Failed:
					res.Outcome = Known
				case Passed:
					res.Outcome, res.Reason = Stale, "passes, but the failure list says it fails"
				case Skipped:
					res.Outcome, res.Reason = Stale, "skipped ("+res.Reason+"), but the failure list says it fails"
				}
			}
			rep.Results = append(rep.Results, res)
			h.print(res)
			if h.fatal != nil {
				return rep, h.fatal
			}
		}
	}
	for _, e := range fl.Entries {
		if !matches(e.Vector, cfg.Only) && all[e.Vector] {
			continue // outside this run's selection
		}
		if (e.Op == "" && !ran[e.Vector+":"+OpRead]) || (e.Op != "" && !ran[e.Key()]) {
			rep.StaleEntries = append(rep.StaleEntries, e.Key())
			fmt.Fprintf(cfg.Out, "STALE %s: the failure list names a case this run does not have\n", e.Key())
		}
	}
	fmt.Fprintln(cfg.Out, rep.Summary())
	if cfg.Fix && cfg.FailureList != "" {
		if err := os.WriteFile(cfg.FailureList, fix(fl, rep, cfg.Only, all).Format(), 0o644); err != nil {
			return rep, err
		}
		fmt.Fprintf(cfg.Out, "rewrote %s\n", cfg.FailureList)
	}
	return rep, nil
}

// opsFor is the cases of a vector: a read, and a write for a positive
// vector whose framing writers produce (GUID prefixes are only read: no
// Confluent serializer writes one).
func opsFor(v *testvectors.Vector) []string {
	if !v.Positive() || v.FramingOrDefault() == testvectors.FramingGUID {
		return []string{OpRead}
	}
	return []string{OpRead, OpWrite}
}

func filter(vectors []testvectors.Vector, only string) ([]testvectors.Vector, error) {
	if only == "" {
		return vectors, nil
	}
	for _, g := range strings.Split(only, ",") {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("--only %q: %v", g, err)
		}
	}
	var out []testvectors.Vector
	for _, v := range vectors {
		if matches(v.Name, only) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--only %q matches no vector", only)
	}
	return out, nil
}

func matches(name, only string) bool {
	if only == "" {
		return true
	}
	for _, g := range strings.Split(only, ",") {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// harness is a run's state: the testee process and what it can do.
type harness struct {
	cfg   Config
	proc  *process
	caps  Capabilities
	fatal error
}

func (h *harness) start() error {
	p, err := start(h.cfg.Testee, h.cfg.WorkDir, h.cfg.Log, "["+shortCommand(h.cfg.Testee)+"] ")
	if err != nil {
		return err
	}
	resp, err := p.exchange(Request{Op: OpCapabilities}, max(h.cfg.Timeout, StartTimeout))
	if err == nil && resp.Error != nil {
		err = fmt.Errorf("answered with an error: %s", resp.Error)
	}
	if err != nil {
		p.kill()
		return fmt.Errorf("testee %q: capabilities: %w", h.cfg.Testee, err)
	}
	if resp.Capabilities == nil {
		resp.Capabilities = &Capabilities{}
	}
	h.proc, h.caps = p, *resp.Capabilities
	if h.caps.Name == "" {
		h.caps.Name = shortCommand(h.cfg.Testee)
	}
	return nil
}

// run sends one case and judges the answer. A testee that times out or
// dies fails the case and is restarted for the next one.
func (h *harness) run(v *testvectors.Vector, op string) Result {
	res := Result{Vector: v.Name, Op: op}
	if why := h.unsupported(v, op); why != "" {
		res.Outcome, res.Reason = Skipped, why
		return res
	}
	resp, err := h.proc.exchange(Request{Op: op, Name: v.Name, Vector: v}, h.cfg.Timeout)
	if err != nil {
		if errors.Is(err, errTimeout) {
			err = fmt.Errorf("no answer within %v: testee killed and restarted", h.cfg.Timeout)
		} else {
			err = fmt.Errorf("%v: testee restarted", err)
		}
		res.Outcome, res.Reason = Failed, err.Error()
		h.proc.kill()
		if serr := h.start(); serr != nil {
			h.fatal = fmt.Errorf("restart after %s:%s: %w", v.Name, op, serr)
		}
		return res
	}
	if resp.Skipped != "" {
		res.Outcome, res.Reason = Skipped, "testee: "+resp.Skipped
		return res
	}
	if err := h.judge(v, op, &resp); err != nil {
		res.Outcome, res.Reason = Failed, clip(err.Error())
	}
	return res
}

// unsupported says why a case is outside the testee's capabilities.
func (h *harness) unsupported(v *testvectors.Vector, op string) string {
	c := &h.caps
	lacks := func(list []string, need ...string) string {
		if list == nil {
			return ""
		}
		for _, n := range need {
			if !slices.Contains(list, n) {
				return n
			}
		}
		return ""
	}
	for _, check := range []struct {
		what string
		list []string
		need []string
	}{
		{"operation", c.Ops, []string{op}},
		{"format", c.Formats, []string{v.Format}},
		{"algorithm", c.Algorithms, v.Algorithms()},
		{"KMS", c.KMS, v.KMSTypes()},
		{"framing", c.Framings, []string{v.FramingOrDefault()}},
	} {
		if n := lacks(check.list, check.need...); n != "" {
			return fmt.Sprintf("capabilities lack %s %s", check.what, n)
		}
	}
	return ""
}

// judge checks an answer against the vector.
func (h *harness) judge(v *testvectors.Vector, op string, resp *Response) error {
	if op == OpWrite {
		switch {
		case resp.Error != nil:
			return fmt.Errorf("write failed: %s", resp.Error)
		case resp.Serialized == nil:
			return errors.New("the answer has no serialized record")
		}
		payload, err := hex.DecodeString(*resp.Serialized)
		if err != nil {
			return fmt.Errorf("serialized is not hex: %v", err)
		}
		headers, err := testvectors.DecodeHeaders(resp.Headers)
		if err != nil {
			return err
		}
		return testvectors.CheckWrittenMessage(v, payload, headers)
	}
	if !v.Positive() {
		if resp.Error == nil {
			if resp.Plaintext != nil {
				return fmt.Errorf("read succeeded, want %s", v.Expect.Error)
			}
			return errors.New("the answer has neither an error nor a plaintext")
		}
		want := v.Expect.Error
		reports := slices.Contains(h.caps.ErrorClasses, want)
		for _, alt := range testvectors.AlternateClasses[want] {
			reports = reports || slices.Contains(h.caps.ErrorClasses, alt)
		}
		if reports && !testvectors.ClassMatches(want, resp.Error.Class) {
			return fmt.Errorf("failed with %s, want %s", resp.Error, want)
		}
		return nil
	}
	switch {
	case resp.Error != nil:
		return fmt.Errorf("read failed: %s", resp.Error)
	case resp.Plaintext == nil:
		return errors.New("the answer has no plaintext")
	}
	return testvectors.SamePlaintextJSON(v, resp.Plaintext)
}

func (e *Error) String() string {
	if e.Class == "" {
		return "(no class) " + e.Message
	}
	return e.Class + ": " + e.Message
}

func clip(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

func (h *harness) print(r Result) {
	switch r.Outcome {
	case Failed:
		fmt.Fprintf(h.cfg.Out, "FAIL %s:%s: %s\n", r.Vector, r.Op, r.Reason)
	case Known:
		fmt.Fprintf(h.cfg.Out, "KNOWN %s:%s: %s (%s)\n", r.Vector, r.Op, r.Why, r.Reason)
	case Stale:
		fmt.Fprintf(h.cfg.Out, "STALE %s:%s: %s (%s): drop the entry (or run with --fix)\n", r.Vector, r.Op, r.Reason, r.Why)
	case Skipped:
		if h.cfg.Verbose {
			fmt.Fprintf(h.cfg.Out, "SKIP %s:%s: %s\n", r.Vector, r.Op, r.Reason)
		}
	case Passed:
		if h.cfg.Verbose {
			fmt.Fprintf(h.cfg.Out, "PASS %s:%s\n", r.Vector, r.Op)
		}
	}
}

// fix returns the failure list this run calls for: surviving entries keep
// their reasons and comments, an entry without an operation that now
// passes one operation is narrowed to the other, new failures are added
// with a TODO reason, and stale entries go.
func fix(old *FailureList, rep *Report, only string, all map[string]bool) *FailureList {
	out := &FailureList{Header: old.Header}
	failing := map[string]Result{}
	var ops = map[string][]string{}
	for _, r := range rep.Results {
		ops[r.Vector] = append(ops[r.Vector], r.Op)
		if r.Outcome == Failed || r.Outcome == Known {
			failing[r.Vector+":"+r.Op] = r
		}
	}
	covered := map[string]bool{}
	for _, e := range old.Entries {
		if !matches(e.Vector, only) && all[e.Vector] {
			out.Entries = append(out.Entries, e) // not run: keep as is
			continue
		}
		var keep []string
		for _, op := range ops[e.Vector] {
			if e.Covers(e.Vector, op) && failing[e.Vector+":"+op].Outcome == Known {
				keep = append(keep, op)
			}
		}
		switch {
		case len(keep) == 0:
			continue
		case e.Op == "" && len(keep) < len(ops[e.Vector]):
			e.Op = keep[0]
		}
		for _, op := range keep {
			covered[e.Vector+":"+op] = true
		}
		out.Entries = append(out.Entries, e)
	}
	for _, r := range rep.Results {
		if r.Outcome == Failed && !covered[r.Vector+":"+r.Op] {
			reason := r.Reason
			if len(reason) > 120 {
				reason = reason[:120] + "…"
			}
			out.Entries = append(out.Entries, Entry{Vector: r.Vector, Op: r.Op, Why: "TODO why (harness: " + reason + ")"})
		}
	}
	return out
}
