package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

// api makes one API call signed with the running stack's root credentials (or
// TASKCLUSTER_ROOT_URL / _CLIENT_ID / _ACCESS_TOKEN), and prints the answer: the
// signing curl cannot do.
func api(ctx context.Context, args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return fmt.Errorf("usage: api METHOD PATH [BODY | @FILE | -]   e.g. api GET /api/worker-manager/v1/worker-pools")
	}
	method, path := strings.ToUpper(args[0]), args[1]
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
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(root, "/")+path, bytes.NewReader(body))
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
	fmt.Fprintf(os.Stderr, "%s %s -> %s\n", method, path, resp.Status)
	if resp.StatusCode == http.StatusUnauthorized && fromEnv {
		fmt.Fprintf(os.Stderr, "(signed as %s at %s, from TASKCLUSTER_*; a restarted stack has a new root token: unset them to use the running stack's)\n", id, root)
	}
	fmt.Println(string(out))
	if resp.StatusCode/100 != 2 {
		os.Exit(1)
	}
	return nil
}
