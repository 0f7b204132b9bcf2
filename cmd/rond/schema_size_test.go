package main

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// schemaProps runs rond config schema and returns its properties.
func schemaProps(t *testing.T) map[string]map[string]any {
	t.Helper()
	out, errOut, code := runRond("config", "schema")
	if code != 0 {
		t.Fatalf("config schema: exit %d: %s", code, errOut)
	}
	var schema struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal([]byte(out), &schema); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return schema.Properties
}

// loadFileValue loads a config file setting key to value (YAML text) and
// returns the loaded Config's field of that key.
func loadFileValue(t *testing.T, key, value string) (reflect.Value, error) {
	t.Helper()
	cfg := defaults()
	if err := parseConfigFile("c.yaml", []byte(key+": "+value+"\n"), &cfg); err != nil {
		return reflect.Value{}, err
	}
	v := reflect.ValueOf(cfg)
	for i := 0; i < v.NumField(); i++ {
		if name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ","); name == key {
			return v.Field(i), nil
		}
	}
	t.Fatalf("no Config field for key %q", key)
	return reflect.Value{}, nil
}

// TestSchemaSizeKeys: every config file key that reads "64MiB" as 64 MiB
// of bytes (found by loading it, not from the list the schema is built
// from) is described by the schema as a size: a string or an integer,
// with the pattern and examples of a size; and every example, and the
// default, loads back through the config file as the size it says. The
// old schema called these keys "integer", which an editor would use to
// flag the documented 64MiB as an error.
func TestSchemaSizeKeys(t *testing.T) {
	props := schemaProps(t)
	sizes := 0
	for _, key := range configKeys() {
		got, err := loadFileValue(t, key, "64MiB")
		if err != nil || !got.CanInt() || got.Int() != 64<<20 {
			continue // not read as a size
		}
		sizes++
		prop := props[key]
		if !reflect.DeepEqual(prop["type"], []any{"string", "integer"}) || prop["minimum"] != 0.0 {
			t.Errorf("%s is read as a size but the schema says type %v, minimum %v", key, prop["type"], prop["minimum"])
		}
		pattern, _ := prop["pattern"].(string)
		re, err := regexp.Compile(pattern)
		if pattern == "" || err != nil {
			t.Errorf("%s: schema pattern %q: %v", key, pattern, err)
			continue
		}
		examples, _ := prop["examples"].([]any)
		hasUnit := false
		values := examples
		if d, ok := prop["default"]; ok { // a key whose zero means "computed" has none
			values = append(slices.Clone(examples), d)
		}
		for _, ex := range values {
			yamlText, _ := json.Marshal(ex) // JSON scalars are YAML scalars
			text := string(yamlText)
			if s, ok := ex.(string); ok {
				text = s
				hasUnit = hasUnit || strings.ContainsAny(s, "KMGT")
				if !re.MatchString(s) {
					t.Errorf("%s: example %q does not match the schema's pattern %s", key, s, pattern)
				}
			}
			want, err := parseByteSize(text)
			if err != nil {
				t.Errorf("%s: example %v is not a size: %v", key, ex, err)
				continue
			}
			got, err := loadFileValue(t, key, string(yamlText))
			if err != nil || got.Int() != want {
				t.Errorf("%s: example %s loads as %v, %v; want %d bytes", key, yamlText, got, err, want)
			}
		}
		if !hasUnit {
			t.Errorf("%s: no example with a unit among %v", key, examples)
		}
		if desc, _ := prop["description"].(string); !strings.Contains(desc, "MiB") {
			t.Errorf("%s: description does not say a unit is taken: %q", key, desc)
		}
	}
	if sizes < 2 {
		t.Fatalf("found %d keys read as sizes; edge_cache_bytes and memory_max at least", sizes)
	}
	for key, prop := range props {
		if reflect.DeepEqual(prop["type"], []any{"string", "integer"}) {
			if got, err := loadFileValue(t, key, "64MiB"); err != nil || got.Int() != 64<<20 {
				t.Errorf("schema calls %s a size but the config file does not read 64MiB: %v", key, err)
			}
		}
	}
}

// TestSizeFractionOfAByteRefused: a size that comes to a fraction of a
// byte is an error naming the file, line and key, not rounded down (the
// old parser loaded memory_max: 1.5B as 1 byte); a fraction with a unit
// that comes to whole bytes loads. The schema's pattern refuses the
// fractions of B or of no unit too, and takes every form the parser
// takes. The description lists the units once (it used to repeat the
// flag's own list) and says so.
func TestSizeFractionOfAByteRefused(t *testing.T) {
	re := regexp.MustCompile(sizeSchema()["pattern"].(string))
	if desc, _ := schemaProps(t)["memory_max"]["description"].(string); strings.Contains(desc, "(bytes, or") || !strings.Contains(desc, "whole number of bytes") {
		t.Errorf("memory_max's description should list the units once and say a fraction must come to whole bytes: %q", desc)
	}
	for _, text := range []string{"1.5B", "1.5 B", "0.5B", "1.0B", "1.5", "1.0001KiB", "0.0001KB", "1.0000000001GB"} {
		err := parseConfigFile("c.yaml", []byte("log_level: info\nmemory_max: "+text+"\n"), new(Config))
		if err == nil || !strings.Contains(err.Error(), "c.yaml:2: memory_max:") || !strings.Contains(err.Error(), "whole") {
			t.Errorf("memory_max: %s: error %v, want one naming c.yaml:2, memory_max and whole bytes", text, err)
		}
		if n, err := parseByteSize(text); err == nil {
			t.Errorf("parseByteSize(%q) = %d, want an error", text, n)
		}
		if strings.Contains(text, ".") && !strings.ContainsAny(text, "KMGT") && re.MatchString(text) {
			t.Errorf("the schema's pattern takes %q", text)
		}
	}
	for text, want := range map[string]int64{"1.5KB": 1500, "0.5KiB": 512, "1.5 GiB": 3 << 29, "2.25MiB": 9 << 18, "7 B": 7, "0.001KB": 1} {
		got, err := loadFileValue(t, "memory_max", text)
		if err != nil || got.Int() != want {
			t.Errorf("memory_max: %s loads as %v, %v; want %d", text, got, err, want)
		}
		if !re.MatchString(text) {
			t.Errorf("the schema's pattern refuses %q, which loads", text)
		}
	}
}
