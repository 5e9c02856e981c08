package pool

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
)

// object is a free-form JSON object as decoded here: values are map[string]any,
// []any, string, bool, nil or json.Number (never float64), so numbers keep their
// precision.
type object = map[string]any

// decodeValue decodes exactly one JSON value, keeping numbers as json.Number.
func decodeValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no JSON value")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// normalize rewrites every number of v into one spelling per value (1.0, 1e0 and 1
// all become 1; integers written without fraction or exponent keep every digit),
// so equal definitions have equal canonical JSON. Numbers too large for a float64
// are reported and replaced by 0.
func (c *checker) normalize(path string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = c.normalize(field(path, k), e)
		}
	case []any:
		for i, e := range t {
			t[i] = c.normalize(index(path, i), e)
		}
	case json.Number:
		n, ok := normalNumber(t)
		if !ok {
			c.addf(path, "is not a finite number")
			return json.Number("0")
		}
		return n
	}
	return v
}

func normalNumber(n json.Number) (json.Number, bool) {
	s := string(n)
	if isIntegerLiteral(s) {
		if s == "-0" {
			return "0", true
		}
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	b, err := json.Marshal(f)
	if err != nil {
		return "", false
	}
	return json.Number(b), true
}

func isIntegerLiteral(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// number reads a JSON number as a float64.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// marshal is json.Marshal without HTML escaping, so "<" stays "<" in what users see.
// Map keys come out sorted, which is what makes free-form objects canonical.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeObject decodes canonical JSON of an object; anything else yields an empty
// object (the values decoded here were validated when they were parsed).
func decodeObject(raw json.RawMessage) object {
	if len(raw) == 0 {
		return object{}
	}
	v, err := decodeValue(raw)
	if err != nil {
		return object{}
	}
	o, ok := v.(map[string]any)
	if !ok || o == nil {
		return object{}
	}
	return o
}

// deepCopy copies v so later merges cannot change the value it came from.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// assignInto sets every member of src in dst, replacing what dst held under that
// name whole (objects too): the aws-provisioner's shallow merge of launchSpec,
// userData and secrets levels (lodash's assign).
func assignInto(dst, src object) {
	for k, v := range src {
		dst[k] = deepCopy(v)
	}
}

// raw is the canonical JSON of a free-form object.
func raw(o object) json.RawMessage {
	b, err := marshal(o)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}
