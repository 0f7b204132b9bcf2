package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

const configUsage = `Usage:
  rond config check FILE   validate a YAML config file without starting a node;
                           exit 0 when it is valid, 1 naming the first problem
  rond config schema       print the JSON Schema of the config file (draft 2020-12)

Examples:
  rond config check /etc/ron/rond.yaml
  rond config schema > rond.schema.json   # for editors that validate YAML
`

// configCmd runs rond config check|schema.
func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, configUsage)
		return 0
	}
	switch {
	case len(args) == 2 && args[0] == "check":
		if args[1] == "-h" || args[1] == "--help" {
			fmt.Fprint(stdout, configUsage)
			return 0
		}
		cfg := defaults()
		if err := readConfigFile(args[1], &cfg); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		cfg.ConfigFile = args[1]
		if err := cfg.validate(); err != nil {
			if lined := cfg.fileLine(err); lined != err {
				fmt.Fprintln(stderr, lined)
			} else {
				fmt.Fprintf(stderr, "%v (in %s)\n", err, args[1])
			}
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return 0
	case len(args) == 1 && args[0] == "schema":
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(configSchema()); err != nil {
			fmt.Fprintln(stderr, "rond: config schema:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "rond: config: want 'check FILE' or 'schema', got %q (run 'rond config --help')\n", strings.Join(args, " "))
	return 2
}

// sizeUsageForms is the forms a size flag's usage lists, which a size
// key's description replaces with sizeForms.
var sizeUsageForms = regexp.MustCompile(` \(bytes, or [^)]*\)`)

// configSchema is the JSON Schema of the config file, generated from the
// yaml tags of Config so that it cannot fall behind the struct: each key
// gets its JSON type, the default rond uses and the flag's description.
// A byte size (sizeKeys, the same list the file's reader converts) is a
// number of bytes or a string with a unit (sizeSchema), not the integer
// its Go type would say.
func configSchema() map[string]any {
	usage := map[string]string{}
	for _, s := range settings {
		usage[s.key()] = strings.ReplaceAll(s.usage, "`", "")
	}
	props := map[string]any{}
	def := reflect.ValueOf(defaults())
	t := def.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		isSize := slices.Contains(sizeKeys(), name)
		prop := jsonType(t.Field(i).Type)
		if isSize {
			prop = sizeSchema()
		}
		if d := def.Field(i); !d.IsZero() {
			prop["default"] = d.Interface()
			if isSize {
				prop["default"] = formatByteSize(d.Int())
			}
		}
		if u := usage[name]; u != "" {
			prop["description"] = u
		}
		if isSize {
			// The flag's "(bytes, or 64MiB, ...)" would repeat sizeForms.
			u := sizeUsageForms.ReplaceAllString(usage[name], "")
			prop["description"] = fmt.Sprintf("%s. A size: %s", u, sizeForms)
		}
		if name == "flags" {
			prop["propertyNames"] = map[string]any{"enum": flagNames}
			prop["description"] = "feature flags, all on by default; false switches one off (reloaded on SIGHUP and on change)"
		}
		props[name] = prop
	}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "rond configuration file (--config FILE, YAML)",
		"description":          "Precedence: defaults < this file < RON_* environment variables < flags. Unknown keys are errors.",
		"type":                 "object",
		"additionalProperties": false,
		"properties":           props,
	}
}

// jsonType maps a Config field's Go type to its JSON Schema type.
func jsonType(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": jsonType(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": jsonType(t.Elem())}
	}
	panic(fmt.Sprintf("rond: config schema: field type %s has no JSON Schema mapping; add one", t))
}
