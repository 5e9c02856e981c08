package pool

import (
	"fmt"
	"strconv"
	"strings"
)

// InvalidError reports everything wrong with a definition a user wrote. Each problem
// starts with the JSON path of the offending value, for example
// "instanceTypes[1].utility must be > 0" or
// "config.launchConfigs[0].launchConfig.UserData must not be set: the provisioner sets it".
// Problems never quote secret values.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string {
	return "invalid definition: " + strings.Join(e.Problems, "; ")
}

func invalid(problems ...string) *InvalidError {
	return &InvalidError{Problems: problems}
}

// checker collects problems while a definition is walked. Paths are JSON paths
// relative to root; the empty path names the root itself.
type checker struct {
	root     string // how the root value is named: "body" or "config"
	problems []string
}

// addf records a problem about the value at path.
func (c *checker) addf(path, format string, args ...any) {
	c.problems = append(c.problems, c.name(path)+" "+fmt.Sprintf(format, args...))
}

// name is how a problem refers to the value at path.
func (c *checker) name(path string) string {
	switch {
	case path == "":
		return c.root
	case c.root == "body":
		return path
	case path[0] == '[':
		return c.root + path
	default:
		return c.root + "." + path
	}
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return invalid(c.problems...)
}

// field is the path of key inside the object at path.
func field(path, key string) string {
	if !plainKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index is the path of element i of the array at path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '$') {
			return false
		}
	}
	return true
}
