package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tagseal/tagseal"
)

// runCrypt implements encrypt (JSON lines → encoded records) and decrypt
// (encoded records → JSON lines) against a registry and KMS.
func runCrypt(mode string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry, userInfo := registryFlags(fs)
	topic := fs.String("topic", "", "topic (names the subject TOPIC-value, or TOPIC-key with --key)")
	isKey := fs.Bool("key", false, "records are Kafka keys")
	file := fs.String("file", "", "input file (default stdin)")
	encoding := fs.String("encoding", "base64", "encoded records: base64 or hex, one per line")
	ruleConfig := kvFlag{}
	fs.Var(ruleConfig, "rule-config", "rule config key=value (secret=…, token.id=…); repeatable")
	fs.Usage = func() {
		if mode == "encrypt" {
			fmt.Fprintf(stderr, "usage: tagseal encrypt --registry URL --topic T [--file records.jsonl] > records.b64\n\n"+
				"Serializes JSON documents (one per line) with the subject's latest schema,\nencrypting tagged fields; prints one encoded record per line.\n\n")
		} else {
			fmt.Fprintf(stderr, "usage: tagseal decrypt --registry URL --topic T [--file records.b64] > records.jsonl\n\n"+
				"Reads encoded records (one per line), decrypts what the KMS lets you, and\nprints one JSON document per line.\n\n")
		}
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *registry == "" || *topic == "" {
		fmt.Fprintf(stderr, "tagseal %s: --registry and --topic are required\n", mode)
		return 2
	}
	if *encoding != "base64" && *encoding != "hex" {
		fmt.Fprintf(stderr, "tagseal %s: unknown --encoding %q\n", mode, *encoding)
		return 2
	}
	in := stdin
	var size int64
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintf(stderr, "tagseal %s: %v\n", mode, err)
			return 2
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
	}
	client, err := newRegistryClient(*registry, *userInfo)
	if err != nil {
		fmt.Fprintf(stderr, "tagseal %s: %v\n", mode, err)
		return 1
	}
	ctx := context.Background()
	serdeType := tagseal.Value
	if *isKey {
		serdeType = tagseal.Key
	}
	keys := tagseal.Keys{RuleConfig: ruleConfig}
	var transform func([]byte) ([]byte, error)
	if mode == "encrypt" {
		ser, err := tagseal.NewSerializer(client, serdeType, tagseal.SerializerConfig{UseLatestVersion: true, Keys: keys})
		if err != nil {
			fmt.Fprintf(stderr, "tagseal %s: %v\n", mode, err)
			return 1
		}
		transform = func(line []byte) ([]byte, error) {
			b, err := ser.SerializeJSON(ctx, *topic, line)
			if err != nil {
				return nil, err
			}
			if *encoding == "hex" {
				return []byte(hex.EncodeToString(b)), nil
			}
			return []byte(base64.StdEncoding.EncodeToString(b)), nil
		}
	} else {
		de, err := tagseal.NewDeserializer(client, serdeType, tagseal.DeserializerConfig{Keys: keys})
		if err != nil {
			fmt.Fprintf(stderr, "tagseal %s: %v\n", mode, err)
			return 1
		}
		transform = func(line []byte) ([]byte, error) {
			var raw []byte
			var err error
			if *encoding == "hex" {
				raw, err = hex.DecodeString(string(line))
			} else {
				raw, err = base64.StdEncoding.DecodeString(string(line))
			}
			if err != nil {
				return nil, fmt.Errorf("not %s", *encoding)
			}
			return de.DeserializeJSON(ctx, *topic, raw)
		}
	}
	progress := newProgress(stderr, mode, size)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	n := 0
	var read int64
	for sc.Scan() {
		line := sc.Bytes()
		read += int64(len(line)) + 1
		if len(line) == 0 {
			continue
		}
		n++
		result, err := transform(line)
		if err != nil {
			progress.done(n - 1)
			fmt.Fprintf(stderr, "tagseal %s: line %d: %v\n", mode, n, err)
			return 1
		}
		out.Write(result)
		out.WriteByte('\n')
		progress.update(n, read)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "tagseal %s: %v\n", mode, err)
		return 1
	}
	progress.done(n)
	return 0
}

// progress draws a progress line on stderr for long inputs: a bar when the
// input size is known, a record count otherwise.
type progress struct {
	w     io.Writer
	mode  string
	size  int64
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, mode string, size int64) *progress {
	return &progress{w: w, mode: mode, size: size, last: time.Now()}
}

func (p *progress) update(n int, read int64) {
	if n%256 != 0 || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.shown = time.Now(), true
	if p.size > 0 {
		frac := float64(read) / float64(p.size)
		if frac > 1 {
			frac = 1
		}
		bar := int(frac * 30)
		fmt.Fprintf(p.w, "\r%s [%-30s] %3.0f%% %d records", p.mode, strings.Repeat("#", bar), frac*100, n)
		return
	}
	fmt.Fprintf(p.w, "\r%s: %d records", p.mode, n)
}

func (p *progress) done(n int) {
	if p.shown {
		fmt.Fprintf(p.w, "\r%s: %d records done%20s\n", p.mode, n, "")
	}
}
