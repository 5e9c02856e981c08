package cloud

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// A Driver is a kind of cloud, registered by alias, with help for each of its
// configuration options (shown by --help style listings and the README).
type Driver struct {
	// Alias is the short name configurations use ("ec2", "fake").
	Alias string
	// Name is the human-readable name.
	Name string
	// Options documents the keys of the driver's JSON configuration.
	Options []Option
	// New builds an instance set from the driver's JSON configuration (nil or
	// empty means all defaults) for the deployment id.
	New func(config json.RawMessage, id InstanceSetID) (InstanceSet, error)
}

// Option documents one key of a driver's JSON configuration.
type Option struct {
	Name    string
	Help    string
	Default string
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Driver{}
)

// Register makes a driver available by its alias. Drivers call it from init.
// Registering an empty alias, a nil New, or an alias twice is a programming error
// and panics, as database/sql.Register does.
func Register(d Driver) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if d.Alias == "" || d.New == nil {
		panic("cloud: Register needs an alias and a New function")
	}
	if _, dup := registry[d.Alias]; dup {
		panic("cloud: driver " + d.Alias + " registered twice")
	}
	registry[d.Alias] = d
}

// Lookup returns the driver registered as alias.
func Lookup(alias string) (Driver, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	d, ok := registry[alias]
	return d, ok
}

// Drivers returns every registered driver, sorted by alias.
func Drivers() []Driver {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Driver, 0, len(registry))
	for _, d := range registry {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alias < out[j].Alias })
	return out
}

// New looks up the driver registered as alias and builds an instance set with
// config for the deployment id. An unknown alias, an empty id or a configuration
// the driver rejects is an error.
func New(alias string, config json.RawMessage, id InstanceSetID) (InstanceSet, error) {
	d, ok := Lookup(alias)
	if !ok {
		aliases := make([]string, 0)
		for _, d := range Drivers() {
			aliases = append(aliases, d.Alias)
		}
		return nil, fmt.Errorf("unknown cloud driver %q (registered: %s)", alias, strings.Join(aliases, ", "))
	}
	if id == "" {
		return nil, fmt.Errorf("cloud driver %s: empty instance set id", alias)
	}
	set, err := d.New(config, id)
	if err != nil {
		return nil, fmt.Errorf("cloud driver %s: %w", alias, err)
	}
	return set, nil
}
