package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

// apiUsage is how api is called.
const apiUsage = "usage: api METHOD PATH|URL [JSON | @FILE | -]   e.g. api GET /api/worker-manager/v1/worker-pools"

// api makes one API call signed with the running stack's root credentials (or
// TASKCLUSTER_ROOT_URL / _CLIENT_ID / _ACCESS_TOKEN), and prints the answer: the
// signing curl cannot do. Without arguments it takes them from $ARGS (make api), as
// one string: METHOD, then PATH or URL, then the body verbatim, quotes and spaces
// included. A non-2xx answer exits with status 1.
func api(ctx context.Context, args []string) error {
	if len(args) == 0 {
		args = splitAPIArgs(os.Getenv("ARGS"))
	}
	if len(args) < 2 || len(args) > 3 {
		return errors.New(apiUsage)
	}
	method, target := strings.ToUpper(args[0]), args[1]
	root, id, token := os.Getenv("TASKCLUSTER_ROOT_URL"), os.Getenv("TASKCLUSTER_CLIENT_ID"), os.Getenv("TASKCLUSTER_ACCESS_TOKEN")
	fromEnv := root != "" && id != ""
	if !fromEnv {
		st, err := readState()
		if err != nil {
			return fmt.Errorf("%w, and TASKCLUSTER_ROOT_URL and TASKCLUSTER_CLIENT_ID are not set", err)
		}
		root, id, token = st.RootURL, st.ClientID, st.AccessToken
	}
	var body []byte
	if len(args) == 3 {
		var err error
		switch arg := args[2]; {
		case arg == "-":
			body, err = io.ReadAll(os.Stdin)
		case strings.HasPrefix(arg, "@"):
			body, err = os.ReadFile(arg[1:])
		default:
			body = []byte(arg)
		}
		if err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, requestURL(root, target), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := (&tcclient.Credentials{ClientID: id, AccessToken: token}).SignRequest(req); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	fmt.Fprintf(os.Stderr, "%s %s -> %s\n", method, target, resp.Status)
	if resp.StatusCode == http.StatusUnauthorized && fromEnv {
		fmt.Fprintf(os.Stderr, "(signed as %s at %s, from TASKCLUSTER_*; a restarted stack has a new root token: unset them to use the running stack's)\n", id, root)
	}
	fmt.Println(string(out))
	if resp.StatusCode/100 != 2 {
		os.Exit(1)
	}
	return nil
}

// splitAPIArgs splits make api's ARGS: the method and the path (or URL) are the
// first two words; the rest, trimmed, is the body as written.
func splitAPIArgs(s string) []string {
	var out []string
	s = strings.TrimSpace(s)
	for len(out) < 2 && s != "" {
		end := strings.IndexAny(s, " \t\n")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = strings.TrimSpace(s[end:])
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// requestURL is target as is when it is a full URL, else target under root.
func requestURL(root, target string) string {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return target
	}
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	return strings.TrimSuffix(root, "/") + target
}
