// Command report turns `go test -bench` output from ./bench (run with
// -count N) into the markdown tables of bench/RESULTS.md: medians of
// ns/op, B/op and allocs/op, tagseal against Confluent as a ratio, MB/s for
// the large-field record, the plain-encoding floor, and parallel scaling.
//
//	go test ./bench -run '^$' -bench . -benchmem -count 5 | go run ./bench/report
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) MB/s)?(?:\s+(\d+) B/op\s+(\d+) allocs/op)?`)

type sample struct{ ns, mbs, bytes, allocs []float64 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	samples := map[string]*sample{}
	var cpu string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		text := sc.Text()
		if strings.HasPrefix(text, "cpu:") {
			cpu = strings.TrimSpace(strings.TrimPrefix(text, "cpu:"))
		}
		m := line.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		name := m[1] + m[2] // keep -cpu suffix: it tells the parallel rows apart
		s := samples[name]
		if s == nil {
			s = &sample{}
			samples[name] = s
		}
		f := func(v string) float64 { x, _ := strconv.ParseFloat(v, 64); return x }
		s.ns = append(s.ns, f(m[3]))
		if m[4] != "" {
			s.mbs = append(s.mbs, f(m[4]))
		}
		if m[5] != "" {
			s.bytes = append(s.bytes, f(m[5]))
			s.allocs = append(s.allocs, f(m[6]))
		}
	}
	write(os.Stdout, samples, cpu)
}

func find(samples map[string]*sample, prefix string) *sample {
	for name, s := range samples {
		if strings.HasPrefix(name, prefix+"-") || name == prefix {
			return s
		}
	}
	return nil
}

func write(w io.Writer, samples map[string]*sample, cpu string) {
	fmt.Fprintf(w, "# Benchmark results\n\n%s, %s/%s, %d CPUs, %s. Medians of the runs given to the report.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu)
	fmt.Fprintln(w, "Confluent rows are confluent-kafka-go v2.15 serdes with rules/encryption and localkms; both sides use the")
	fmt.Fprintln(w, "same mock:// registry and local KMS. Confluent's serializers encrypt their input in place, so their rows")
	fmt.Fprintln(w, "build a fresh value per op (see `avro-flat/new-value` for that cost); tagseal reuses one.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`tagseal` rows are the Confluent drop-in (package serde) over the same mock:// registry; `pure API` is the")
	fmt.Fprintln(w, "pure-Go root package over an embedded registry.Memory, no cgo in its path.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| record | op | tagseal ns/op | pure API ns/op | Confluent ns/op | speed-up | tagseal B/op | allocs/op | Confluent allocs/op | MB/s |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	var names []string
	for name := range samples {
		if strings.HasPrefix(name, "Serde/") && strings.Contains(name, "/tagseal") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		parts := strings.Split(strings.TrimPrefix(name, "Serde/"), "/")
		if len(parts) < 3 {
			continue
		}
		t := samples[name]
		c := find(samples, "Serde/"+parts[0]+"/"+parts[1]+"/confluent")
		ratio, cns, callocs := "", "", ""
		if c != nil {
			ratio = fmt.Sprintf("%.1f×", median(c.ns)/median(t.ns))
			cns = fmt.Sprintf("%.0f", median(c.ns))
			callocs = fmt.Sprintf("%.0f", median(c.allocs))
		}
		mbs := ""
		if len(t.mbs) > 0 {
			mbs = fmt.Sprintf("%.0f", median(t.mbs))
		}
		pns := ""
		if p := find(samples, "Serde/"+parts[0]+"/"+parts[1]+"/purego"); p != nil {
			pns = fmt.Sprintf("%.0f", median(p.ns))
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %.0f | %.0f | %s | %s |\n",
			parts[0], parts[1], median(t.ns), pns, cns, ratio, median(t.bytes), median(t.allocs), callocs, mbs)
	}
	if floor, ser := find(samples, "Floor/avro-flat/serialize/hamba-marshal"), find(samples, "Serde/avro-flat/serialize/tagseal"); floor != nil && ser != nil {
		fmt.Fprintf(w, "\nFloor: plain hamba/avro Marshal of the flat record takes %.0f ns/op; tagseal's encrypting serialize is %.1f× that.\n",
			median(floor.ns), median(ser.ns)/median(floor.ns))
	}
	if v := find(samples, "Floor/avro-flat/new-value"); v != nil {
		fmt.Fprintf(w, "Building a fresh flat value (paid by the Confluent rows) takes %.0f ns/op.\n", median(v.ns))
	}
	guarded, allowed := find(samples, "Guard/avro-flat/schema-id/guarded"), find(samples, "Guard/avro-flat/schema-id/allowed")
	if guarded != nil && allowed != nil {
		fmt.Fprintln(w, "\n## Downgrade guard (avro-flat, serialize)")
		fmt.Fprintln(w, "\n| mode | guard on ns/op | guard off ns/op | cost |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		fmt.Fprintf(w, "| UseSchemaID | %.0f | %.0f | %+.1f%% |\n", median(guarded.ns), median(allowed.ns), 100*(median(guarded.ns)/median(allowed.ns)-1))
		if auto := find(samples, "Guard/avro-flat/auto-register/guarded"); auto != nil {
			fmt.Fprintf(w, "| AutoRegisterSchemas | %.0f | (writes in clear) | |\n", median(auto.ns))
		}
	}
	fmt.Fprintln(w, "\n## Parallel scaling (avro-flat, b.RunParallel)")
	fmt.Fprintln(w, "\n| op | 1 goroutine ns/op | 2 goroutines ns/op | throughput gain |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, op := range []string{"serialize", "deserialize"} {
		one := samples["Parallel/avro-flat/"+op+"/tagseal"]
		two := samples["Parallel/avro-flat/"+op+"/tagseal-2"]
		if one != nil && two != nil {
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f× |\n", op, median(one.ns), median(two.ns), median(one.ns)/median(two.ns))
		}
	}
}
