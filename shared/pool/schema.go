package pool

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// schemaBase is the base URL the embedded schemas are known by; $refs between them
// are relative to it. Nothing is fetched from it.
const schemaBase = "https://workerfleet.invalid/schemas/pool/"

// schemaCompiler is a compiler that knows every embedded schema.
func schemaCompiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	entries, err := schemaFiles.ReadDir("schemas")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := schemaFiles.ReadFile("schemas/" + e.Name())
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", e.Name(), err)
		}
		if err := c.AddResource(schemaBase+e.Name(), doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", e.Name(), err)
		}
	}
	return c, nil
}

// configSchemas are the compiled provider config schemas, by provider type.
var configSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c, err := schemaCompiler()
	if err != nil {
		return nil, err
	}
	out := map[string]*jsonschema.Schema{}
	for _, ptype := range []string{ProviderTypeAWS, ProviderTypeStatic, ProviderTypeNull} {
		sch, err := c.Compile(schemaBase + "config-" + ptype + ".json")
		if err != nil {
			return nil, fmt.Errorf("schema for provider type %s: %w", ptype, err)
		}
		out[ptype] = sch
	}
	return out, nil
})

// workerTypeSchema is the compiled aws-provisioner worker type schema.
var workerTypeSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c, err := schemaCompiler()
	if err != nil {
		return nil, err
	}
	return c.Compile(schemaBase + "worker-type.json")
})

// printableASCII is the aws-provisioner schemas' pattern for scopes.
const printableASCII = "^[ -~]*$"

// refusedReasons say why a member a schema refuses (with false) may not be set.
var refusedReasons = map[string]string{
	"providerId":   "the provisioner sets it",
	"rootUrl":      "the provisioner sets it",
	"workerConfig": "the provisioner sets it from the launch config's workerConfig",
	"workerGroup":  "the provisioner sets it",
	"workerPoolId": "the provisioner sets it",
}

// validateSchema records a problem for every way inst fails sch, sorted.
func (c *checker) validateSchema(sch *jsonschema.Schema, inst any) {
	err := sch.Validate(inst)
	if err == nil {
		return
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		c.addf("", "cannot be validated: %v", err)
		return
	}
	sub := &checker{root: c.root}
	sub.schemaLeaves(ve, inst)
	sort.Strings(sub.problems)
	c.problems = append(c.problems, slices.Compact(sub.problems)...)
}

// schemaLeaves turns the leaves of a validation error tree into problems.
func (c *checker) schemaLeaves(ve *jsonschema.ValidationError, inst any) {
	if len(ve.Causes) > 0 {
		for _, cause := range ve.Causes {
			c.schemaLeaves(cause, inst)
		}
		return
	}
	path, last := instancePath(inst, ve.InstanceLocation)
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			c.addf(field(path, m), "is required")
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			c.addf(field(path, p), "is not allowed")
		}
	case *kind.FalseSchema:
		if reason, ok := refusedReasons[last]; ok {
			c.addf(path, "must not be set: %s", reason)
		} else {
			c.addf(path, "must not be set")
		}
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, t := range k.Want {
			want[i] = withArticle(t)
		}
		c.addf(path, "must be %s", strings.Join(want, " or "))
	case *kind.Minimum:
		c.addf(path, "must be >= %s", ratString(k.Want))
	case *kind.ExclusiveMinimum:
		c.addf(path, "must be > %s", ratString(k.Want))
	case *kind.Maximum:
		c.addf(path, "must be <= %s", ratString(k.Want))
	case *kind.MinItems:
		c.addf(path, "must have at least %d item%s", k.Want, plural(k.Want))
	case *kind.MinLength:
		c.addf(path, "must have at least %d character%s", k.Want, plural(k.Want))
	case *kind.Pattern:
		if k.Want == printableASCII {
			c.addf(path, "must be printable ASCII characters and spaces")
		} else {
			c.addf(path, "must match %s", k.Want)
		}
	case *kind.UniqueItems:
		c.addf(index(path, k.Duplicates[1]), "duplicates %s", c.name(index(path, k.Duplicates[0])))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, v := range k.Want {
			b, _ := json.Marshal(v)
			want[i] = string(b)
		}
		c.addf(path, "must be one of %s", strings.Join(want, ", "))
	default:
		c.addf(path, "does not satisfy %s", strings.Join(ve.ErrorKind.KeywordPath(), "/"))
	}
}

// instancePath turns a JSON pointer's tokens into a problem path, using the instance
// to tell array indexes from member names; it also returns the last member name.
func instancePath(inst any, tokens []string) (path, last string) {
	node := inst
	for _, t := range tokens {
		switch n := node.(type) {
		case []any:
			i, err := strconv.Atoi(t)
			if err == nil && i >= 0 && i < len(n) {
				path, node = index(path, i), n[i]
				continue
			}
		case map[string]any:
			path, node, last = field(path, t), n[t], t
			continue
		}
		path, node, last = field(path, t), nil, t
	}
	return path, last
}

func withArticle(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + t
	case "null":
		return t
	}
	return "a " + t
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
