package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The examples run against the broker and read back what they wrote.
func TestExamples(t *testing.T) {
	broker := bootstrap(t)
	for _, example := range []string{"confluent", "franz"} {
		t.Run(example, func(t *testing.T) {
			topic := newTopic(t, broker, 1, nil)
			cmd := exec.Command("go", "run", "../examples/"+example, "-bootstrap", broker, "-topic", topic, "-secret", "example-secret")
			if example == "franz" {
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // the pure-Go API needs no cgo
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if n := strings.Count(string(out), "consumed id="); n != 3 {
				t.Fatalf("consumed %d records, want 3:\n%s", n, out)
			}
		})
	}
}
