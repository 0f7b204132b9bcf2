package scenario

import (
	"os"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// marshals to a file that parses back to the same scenario and marshals to
// the same bytes. The seed corpus (testdata/fuzz/FuzzParse) holds the
// repository's scenario files and edge cases; the scenario files are also
// added here so new ones join the corpus automatically.
func FuzzParse(f *testing.F) {
	for _, path := range scenarioFiles(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatal("Parse returned a scenario and an error")
			}
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("accepted scenario does not marshal: %v\ninput:\n%s", err, data)
		}
		back, err := Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("marshalled scenario does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(withoutLines(back), withoutLines(s)) {
			t.Fatalf("round trip changed the scenario\ninput:\n%s\nmarshalled:\n%s", data, out)
		}
		again, err := back.Marshal()
		if err != nil || string(again) != string(out) {
			t.Fatalf("Marshal is not stable: %v\n%s\n---\n%s", err, out, again)
		}
	})
}
