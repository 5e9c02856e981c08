package pool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ProviderInfo describes one provider, as listProviders shows it.
type ProviderInfo struct {
	ProviderID   string `json:"providerId"`
	ProviderType string `json:"providerType"`
}

// Provider types.
const (
	ProviderTypeAWS    = "aws"
	ProviderTypeStatic = "static"
	ProviderTypeNull   = "null"
)

// NullProviderID is the provider of pools pending deletion. Every deployment has it.
const NullProviderID = "null-provider"

// DefaultProvidersJSON is the providers a deployment has when it configures none, in
// the format of Taskcluster's PROVIDERS setting.
const DefaultProvidersJSON = `{"aws": {"providerType": "aws"}, "static": {"providerType": "static"}}`

// Providers is a deployment's set of providers, configured as Taskcluster's
// PROVIDERS setting configures worker-manager's: a JSON object mapping each
// providerId to {"providerType": "aws" | "static"}. null-provider (type null) is
// always there. The zero value is the default set: aws, static and null-provider.
type Providers struct {
	list []ProviderInfo // sorted by id, null-provider last; nil: the default set
}

var defaultProviders = []ProviderInfo{
	{ProviderID: "aws", ProviderType: ProviderTypeAWS},
	{ProviderID: "static", ProviderType: ProviderTypeStatic},
	{ProviderID: NullProviderID, ProviderType: ProviderTypeNull},
}

// ParseProviders reads a PROVIDERS setting. Empty means the default set. Each entry
// must name a supported providerType; other members (Taskcluster's aws providers
// carry credentials and rate limits) are refused, since workerfleet's aws providers
// act with the deployment's own IAM role and rate limits, and a secret does not
// belong in a setting.
func ParseProviders(s string) (Providers, error) {
	if strings.TrimSpace(s) == "" {
		return Providers{}, nil
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&raw); err != nil {
		return Providers{}, fmt.Errorf("PROVIDERS is not a JSON object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Providers{}, errors.New("PROVIDERS: unexpected data after the JSON object")
	}
	if raw == nil {
		return Providers{}, errors.New("PROVIDERS must be a JSON object, not null")
	}
	var list []ProviderInfo
	for id, entry := range raw {
		if !ValidProviderID(id) {
			return Providers{}, fmt.Errorf("PROVIDERS: providerId %q must be 1 to 38 of a-z A-Z 0-9 - _", id)
		}
		var e struct {
			ProviderType string `json:"providerType"`
		}
		d := json.NewDecoder(bytes.NewReader(entry))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return Providers{}, fmt.Errorf("PROVIDERS[%q] must be {\"providerType\": \"aws\" | \"static\"}: %w", id, err)
		}
		switch {
		case id == NullProviderID && e.ProviderType != ProviderTypeNull:
			return Providers{}, fmt.Errorf("PROVIDERS[%q]: %s is always the null provider", id, NullProviderID)
		case id == NullProviderID:
			continue
		case e.ProviderType != ProviderTypeAWS && e.ProviderType != ProviderTypeStatic:
			return Providers{}, fmt.Errorf("PROVIDERS[%q]: providerType %q is not supported (aws or static)", id, e.ProviderType)
		}
		list = append(list, ProviderInfo{ProviderID: id, ProviderType: e.ProviderType})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ProviderID < list[j].ProviderID })
	list = append(list, ProviderInfo{ProviderID: NullProviderID, ProviderType: ProviderTypeNull})
	return Providers{list: list}, nil
}

// MustParseProviders is ParseProviders for settings known to be valid (tests,
// constants); it panics on an invalid one.
func MustParseProviders(s string) Providers {
	p, err := ParseProviders(s)
	if err != nil {
		panic(err)
	}
	return p
}

func (p Providers) all() []ProviderInfo {
	if p.list == nil {
		return defaultProviders
	}
	return p.list
}

// List lists the providers, as listProviders shows them: by id, null-provider last.
func (p Providers) List() []ProviderInfo {
	return append([]ProviderInfo(nil), p.all()...)
}

// Type is the type of provider id, if the deployment has it.
func (p Providers) Type(id string) (string, bool) {
	for _, info := range p.all() {
		if info.ProviderID == id {
			return info.ProviderType, true
		}
	}
	return "", false
}

// IDs are the provider ids, comma-separated, for messages.
func (p Providers) IDs() string {
	ids := make([]string, 0, len(p.all()))
	for _, info := range p.all() {
		ids = append(ids, info.ProviderID)
	}
	return strings.Join(ids, ", ")
}

// DefaultProviders lists the providers of a deployment that configures none (aws,
// static, null-provider); a deployment's own are its ParseOptions.Providers.
func DefaultProviders() []ProviderInfo {
	return Providers{}.List()
}
