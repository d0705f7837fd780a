package statefile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteAtomicReplacesAndSetsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"one", "two"} {
		if err := WriteAtomic(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("after writing %q: %q %v", content, got, err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v (%v), want 0640", fi.Mode().Perm(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestWriteAtomicErrorNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "state.json")
	err := WriteAtomic(path, []byte("x"), 0o600)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
}

func TestRemoveTempsRemovesBothNamings(t *testing.T) {
	dir := t.TempDir()
	keep := []string{"incidents.json", "incidents.json.corrupt-20261202T080000.000000000Z", "00000000000000000004.json"}
	temps := []string{"incidents.json.tmp-123", ".tmp-456"} // today's naming and the naming before statefile
	for _, n := range append(slices.Clone(keep), temps...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveTemps(dir)
	if err != nil || len(removed) != len(temps) {
		t.Fatalf("removed %v (%v), want %v", removed, err, temps)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(left)
	slices.Sort(keep)
	if !slices.Equal(left, keep) {
		t.Fatalf("left %v, want %v", left, keep)
	}
}

func TestSetAsideNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	var asides []string
	for i, content := range []string{"first", "second", "third"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		aside, err := SetAside(path, now) // the same instant each time
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s still there after SetAside: %v", path, err)
		}
		want := path + ".corrupt-20261202T070000.000000000Z"
		if i > 0 {
			want += "-" + string(rune('1'+i))
		}
		if aside != want {
			t.Fatalf("set aside as %s, want %s", aside, want)
		}
		asides = append(asides, aside)
	}
	for i, content := range []string{"first", "second", "third"} {
		if got, err := os.ReadFile(asides[i]); err != nil || string(got) != content {
			t.Fatalf("%s holds %q (%v), want %q", asides[i], got, err, content)
		}
	}
}

func TestSetAsideMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.json")
	if _, err := SetAside(path, time.Now()); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
}
