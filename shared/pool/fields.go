package pool

import (
	"encoding/json"
	"slices"
	"sort"
)

// fields reads the members of one JSON object of a definition, recording a problem
// for every member that is missing or of the wrong type.
type fields struct {
	c    *checker
	path string
	obj  object
	at   int // index in the array it came from, for objects
}

// only records a problem for every member not in allowed.
func (f fields) only(allowed ...string) {
	var unknown []string
	for k := range f.obj {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		f.c.addf(field(f.path, k), "is not allowed")
	}
}

// str reads a required string.
func (f fields) str(key string) (string, bool) {
	v, present := f.obj[key]
	if !present {
		f.c.addf(field(f.path, key), "is required")
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		f.c.addf(field(f.path, key), "must be a string")
	}
	return s, ok
}

// num reads a number; an optional one that is absent or null is def.
func (f fields) num(key string, required bool, def float64) (float64, bool) {
	v, present := f.obj[key]
	if !present || (v == nil && !required) {
		if required {
			f.c.addf(field(f.path, key), "is required")
			return 0, false
		}
		return def, true
	}
	n, ok := number(v)
	if !ok {
		f.c.addf(field(f.path, key), "must be a number")
	}
	return n, ok
}

// boolean reads an optional boolean; absent or null is def.
func (f fields) boolean(key string, def bool) bool {
	v, present := f.obj[key]
	if !present || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		f.c.addf(field(f.path, key), "must be a boolean")
		return def
	}
	return b
}

// freeForm reads a free-form object. Null is {}, as the official Go client sends
// null for one left unset; absent is {} too unless the member is required.
func (f fields) freeForm(key string, required bool) object {
	o, _ := f.freeFormOK(key, required)
	return o
}

// freeFormOK is freeForm, also reporting whether the member was acceptable.
func (f fields) freeFormOK(key string, required bool) (object, bool) {
	v, present := f.obj[key]
	switch {
	case !present && required:
		f.c.addf(field(f.path, key), "is required")
		return object{}, false
	case !present || v == nil:
		return object{}, true
	}
	o, ok := v.(map[string]any)
	if !ok {
		f.c.addf(field(f.path, key), "must be an object")
		return object{}, false
	}
	return o, true
}

// launchSpec reads a required launchSpec and checks it if it is an object.
func (f fields) launchSpec(level launchSpecLevel) json.RawMessage {
	spec, ok := f.freeFormOK("launchSpec", true)
	if ok {
		f.c.checkLaunchSpec(field(f.path, "launchSpec"), spec, level)
	}
	return raw(spec)
}

// scopes reads a required list of scopes; null is [].
func (f fields) scopes(key string) []string {
	path := field(f.path, key)
	v, present := f.obj[key]
	if !present {
		f.c.addf(path, "is required")
		return []string{}
	}
	if v == nil {
		return []string{}
	}
	arr, ok := v.([]any)
	if !ok {
		f.c.addf(path, "must be an array of strings")
		return []string{}
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		switch {
		case !ok:
			f.c.addf(index(path, i), "must be a string")
		case !validScope(s):
			f.c.addf(index(path, i), "must be printable ASCII characters and spaces")
		default:
			out = append(out, s)
		}
	}
	return out
}

// objects reads an array of objects. A required one must have at least one element;
// an optional one may be absent or null.
func (f fields) objects(key string, required bool) []fields {
	path := field(f.path, key)
	v, present := f.obj[key]
	if !present || v == nil {
		if required {
			if present {
				f.c.addf(path, "must be an array")
			} else {
				f.c.addf(path, "is required")
			}
		}
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		f.c.addf(path, "must be an array")
		return nil
	}
	if required && len(arr) == 0 {
		f.c.addf(path, "must have at least 1 item")
	}
	out := make([]fields, 0, len(arr))
	for i, e := range arr {
		o, ok := e.(map[string]any)
		if !ok {
			f.c.addf(index(path, i), "must be an object")
			continue
		}
		out = append(out, fields{c: f.c, path: index(path, i), obj: o, at: i})
	}
	return out
}

// raw is the canonical JSON of a free-form object.
func raw(o object) json.RawMessage {
	b, err := marshal(o)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}
