package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// process is one running testee: a shell command whose stdin and stdout
// carry frames and whose stderr goes, line by line with a prefix, to log.
type process struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan reply
	done    chan struct{} // closed by stop and kill: nobody reads replies
	once    sync.Once
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

type reply struct {
	resp Response
	err  error
}

// errTimeout is a request the testee did not answer in time.
var errTimeout = errors.New("no answer before the timeout")

// start runs command with sh -c (so a testee is any shell command line).
func start(command, dir string, log io.Writer, prefix string) (*process, error) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	setProcessGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start testee %q: %w", command, err)
	}
	p := &process{cmd: cmd, stdin: stdin, replies: make(chan reply, 4), done: make(chan struct{}), exited: make(chan struct{})}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { // stderr, prefixed, for the log
		defer pipes.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(log, "%s%s\n", prefix, sc.Text())
		}
	}()
	go func() { // stdout: one reply per frame, in order
		defer pipes.Done()
		br := bufio.NewReader(stdout)
		for {
			var r Response
			err := ReadFrame(br, &r)
			select {
			case p.replies <- reply{r, err}:
			case <-p.done:
				_, _ = io.Copy(io.Discard, br)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		pipes.Wait() // Wait closes the pipes: read stderr to its end first
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// exchange sends req and waits for the answer, at most timeout.
func (p *process) exchange(req Request, timeout time.Duration) (Response, error) {
	sent := make(chan error, 1)
	go func() { sent <- WriteFrame(p.stdin, req) }() // a full pipe must not block us
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case err := <-sent:
			if err != nil {
				return Response{}, p.died(fmt.Errorf("send: %w", err))
			}
			sent = nil
		case r := <-p.replies:
			if r.err != nil {
				return Response{}, p.died(r.err)
			}
			return r.resp, nil
		case <-timer.C:
			return Response{}, errTimeout
		}
	}
}

// died describes why the testee stopped answering: its exit status when it
// exited (waiting briefly for it), else err.
func (p *process) died(err error) error {
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("testee exited (%v) without an answer", p.waitErr)
		}
		return errors.New("testee exited (status 0) without an answer")
	case <-time.After(2 * time.Second):
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("testee closed its stdout without an answer")
	}
	return fmt.Errorf("testee: %v", err)
}

// stop closes stdin (a testee ends at EOF), gives the testee grace to
// exit, then kills its process group.
func (p *process) stop(grace time.Duration) {
	p.once.Do(func() { close(p.done) })
	p.stdin.Close()
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	p.kill()
}

// kill ends the testee and everything it started, at once.
func (p *process) kill() {
	p.once.Do(func() { close(p.done) })
	p.stdin.Close()
	killProcessGroup(p.cmd)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
}

// shortCommand is the command's first word, for messages.
func shortCommand(command string) string {
	f := strings.Fields(command)
	if len(f) == 0 {
		return command
	}
	return f[0]
}
