package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/workerfleet/workerfleet/shared/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/localstack"
)

// state is what a running stack leaves in the cache folder so that `make api`,
// `make client` and `make invoke` find it. The file is the user's alone (0600).
type state struct {
	PID              int    `json:"pid"`
	RootURL          string `json:"rootUrl"`
	ClientID         string `json:"clientId"`
	AccessToken      string `json:"accessToken"`
	DynamoDBEndpoint string `json:"dynamodbEndpoint"`
	SigningKey       string `json:"signingKey"`
}

func statePath() (string, error) {
	dir, err := dynamolocal.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "local-stack.json"), nil
}

func writeState(s *localstack.Stack) error {
	p, err := statePath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	data, _ := json.Marshal(state{PID: os.Getpid(), RootURL: s.URL, ClientID: s.RootClientID, AccessToken: s.RootAccessToken,
		DynamoDBEndpoint: s.DynamoDBEndpoint(), SigningKey: string(s.App.Config.SigningKey)})
	return os.WriteFile(p, data, 0o600)
}

func removeState() {
	if p, err := statePath(); err == nil {
		os.Remove(p)
	}
}

// errNoStack means no local stack is running.
var errNoStack = errors.New("no local stack is running (start one with make run)")

// readState finds the running stack.
func readState() (state, error) {
	p, err := statePath()
	if err != nil {
		return state{}, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return state{}, errNoStack
	}
	if err != nil {
		return state{}, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return state{}, fmt.Errorf("%s: %w", p, err)
	}
	if syscall.Kill(st.PID, 0) != nil {
		return state{}, errNoStack
	}
	return st, nil
}
