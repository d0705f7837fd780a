package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the config loader: it must never
// panic, and must either return a config or an *Errors naming the file.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../config/*.toml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[probe]\ninterval = \"1s\"\n"))
	f.Add([]byte("[[zone]]\nname = \"a..b\"\ntypes = [\"A\", 1]\n"))
	f.Add([]byte("[slack]\ntoken = \"x\"\n[[prefix]]\nprefix = \"10.0.0.1/8\"\norigins = [0]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var ce *Errors
		if !errors.As(err, &ce) || len(ce.List) == 0 || ce.File != "fuzz.toml" {
			t.Fatalf("error of type %T without messages: %v", err, err)
		}
	})
}
