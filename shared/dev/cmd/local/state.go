package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/dev/localstack"
)

// state is what a running stack leaves in the cache folder so that `make api`,
// `make client` and `make invoke` find it. The file is the user's alone (0600).
type state struct {
	PID              int    `json:"pid"`
	RootURL          string `json:"rootUrl"`
	ClientID         string `json:"clientId"`
	AccessToken      string `json:"accessToken"`
	DynamoDBEndpoint string `json:"dynamodbEndpoint"`
	DynamoDBKeyID    string `json:"dynamodbAccessKeyId"`
	SigningKey       string `json:"signingKey"`
}

// stateFile is the state of the stack serving on port; each running stack has its
// own, so two stacks (a user's and a test's, say) never remove each other's.
func stateFile(port int) (string, error) {
	dir, err := dynamolocal.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, fmt.Sprintf("local-stack-%d.json", port)), nil
}

func writeState(s *localstack.Stack, port int) error {
	p, err := stateFile(port)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	data, _ := json.Marshal(state{PID: os.Getpid(), RootURL: s.URL, ClientID: s.RootClientID, AccessToken: s.RootAccessToken,
		DynamoDBEndpoint: s.DynamoDBEndpoint(), DynamoDBKeyID: s.DynamoDBAccessKeyID(), SigningKey: string(s.App.Config.SigningKey)})
	return os.WriteFile(p, data, 0o600)
}

// removeState removes the state file of the stack on port if it is this process's.
func removeState(port int) {
	p, err := stateFile(port)
	if err != nil {
		return
	}
	if st, err := loadState(p); err == nil && st.PID == os.Getpid() {
		os.Remove(p)
	}
}

// errNoStack means no local stack is running.
var errNoStack = errors.New("no local stack is running (start one with make run)")

// readState finds the running stack: the one on $PORT when PORT is set, else the
// only one running.
func readState() (state, error) {
	if v := os.Getenv("PORT"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil {
			return state{}, fmt.Errorf("PORT=%q is not a number", v)
		}
		p, err := stateFile(port)
		if err != nil {
			return state{}, err
		}
		st, err := loadState(p)
		if errors.Is(err, errNoStack) {
			return state{}, fmt.Errorf("no local stack is running on port %d (start one with make run)", port)
		}
		return st, err
	}
	dir, err := dynamolocal.CacheDir()
	if err != nil {
		return state{}, err
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "local-stack-*.json"))
	var running []state
	for _, p := range paths {
		if st, err := loadState(p); err == nil {
			running = append(running, st)
		}
	}
	switch len(running) {
	case 0:
		return state{}, errNoStack
	case 1:
		return running[0], nil
	}
	urls := make([]string, len(running))
	for i, st := range running {
		urls[i] = st.RootURL
	}
	return state{}, fmt.Errorf("%d local stacks are running (%s): set PORT to choose one", len(running), strings.Join(urls, ", "))
}

// loadState reads one state file; errNoStack if it is absent or its process is gone.
func loadState(path string) (state, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return state{}, errNoStack
	}
	if err != nil {
		return state{}, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return state{}, fmt.Errorf("%s: %w", path, err)
	}
	if st.PID <= 0 || syscall.Kill(st.PID, 0) != nil {
		return state{}, errNoStack
	}
	return st, nil
}
