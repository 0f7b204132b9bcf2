package main

import (
	"encoding/json"
	"reflect"
	"regexp"
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
		for _, ex := range append(examples, prop["default"]) {
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
