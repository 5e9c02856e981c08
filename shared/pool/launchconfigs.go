package pool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// LaunchConfigContentID is the id today's worker-manager gives a launch config that
// names none: "lc-" and a hash of its content without its workerManager member
// (whose settings may change without making it another launch config). The hash is
// of canonical JSON (members sorted, one number spelling), so the same launch config
// written another way keeps its id.
func LaunchConfigContentID(written json.RawMessage) string {
	return "lc-" + LaunchConfigContent(written)[:20]
}

// LaunchConfigContent is a hash of a launch config's content without its
// workerManager member: two launch configs with one id must have the same.
func LaunchConfigContent(written json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(written, &m); err == nil {
		delete(m, "workerManager")
		written, _ = json.Marshal(m)
	}
	canon, ok := canonicalJSON(written)
	if !ok {
		canon = written
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// WithLaunchConfigIDs returns an aws pool's config as written, each launch config's
// workerManager.launchConfigId set to its id, as today's worker-manager returns
// definitions. Other configs come back unchanged.
func (c Config) WithLaunchConfigIDs() json.RawMessage {
	if c.AWS == nil {
		return c.JSON()
	}
	return InjectLaunchConfigIDs(c.JSON())
}

// InjectLaunchConfigIDs is WithLaunchConfigIDs of a stored config, which was
// validated when it was written: each launch config gets its id, the one it names
// or the one made from its content. A config without launch configs comes back
// unchanged.
func InjectLaunchConfigIDs(config json.RawMessage) json.RawMessage {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil || cfg["launchConfigs"] == nil {
		return config
	}
	var lcs []json.RawMessage
	if err := json.Unmarshal(cfg["launchConfigs"], &lcs); err != nil {
		return config
	}
	out := make([]map[string]json.RawMessage, len(lcs))
	for i, raw := range lcs {
		var lc map[string]json.RawMessage
		if err := json.Unmarshal(raw, &lc); err != nil {
			return config
		}
		wm := map[string]json.RawMessage{}
		if w, ok := lc["workerManager"]; ok {
			_ = json.Unmarshal(w, &wm)
		}
		if _, named := wm["launchConfigId"]; !named {
			wm["launchConfigId"], _ = json.Marshal(LaunchConfigContentID(raw))
		}
		lc["workerManager"], _ = json.Marshal(wm)
		out[i] = lc
	}
	cfg["launchConfigs"], _ = json.Marshal(out)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cfg); err != nil {
		return config
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// LaunchConfigIDsOf returns the ids of the launch configs a stored config holds
// (none for a config without launch configs).
func LaunchConfigIDsOf(config json.RawMessage) []string {
	var cfg struct {
		LaunchConfigs []json.RawMessage `json:"launchConfigs"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil
	}
	ids := make([]string, 0, len(cfg.LaunchConfigs))
	for _, raw := range cfg.LaunchConfigs {
		var lc struct {
			WorkerManager struct {
				LaunchConfigID string `json:"launchConfigId"`
			} `json:"workerManager"`
		}
		_ = json.Unmarshal(raw, &lc)
		id := lc.WorkerManager.LaunchConfigID
		if id == "" {
			id = LaunchConfigContentID(raw)
		}
		ids = append(ids, id)
	}
	return ids
}

// TodaysView is a stored config as today's worker-manager returns it: its
// lifecycle (where it has one) with the defaults of today's schema filled in
// (reregistrationTimeout, queueInactivityTimeout), each launch config with its id
// (InjectLaunchConfigIDs), and, for a deleted pool (whose launch configs are all
// archived), no launchConfigs at all. A config without a lifecycle and without
// launch configs comes back unchanged.
func TodaysView(config json.RawMessage, deleted bool) json.RawMessage {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return config
	}
	changed := false
	if raw, ok := cfg["lifecycle"]; ok {
		var lc map[string]json.RawMessage
		if json.Unmarshal(raw, &lc) == nil && lc != nil {
			for k, v := range map[string]int{"reregistrationTimeout": DefaultReregistrationTimeout, "queueInactivityTimeout": DefaultQueueInactivityTimeout} {
				if _, set := lc[k]; !set {
					lc[k], _ = json.Marshal(v)
					changed = true
				}
			}
			cfg["lifecycle"], _ = json.Marshal(lc)
		}
	}
	if _, has := cfg["launchConfigs"]; has && deleted {
		delete(cfg, "launchConfigs")
		changed = true
	}
	if changed {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(cfg); err == nil {
			config = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		}
	}
	return InjectLaunchConfigIDs(config)
}
