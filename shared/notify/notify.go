// Package notify mails worker pool errors to the pools' owners when the pools ask
// for it (emailOnError), as worker-manager does: through a Taskcluster deployment's
// notify service (notify.email), called with the official tcnotify client and the
// credentials of the Taskcluster client workerfleet acts as.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcnotify"
	"gopkg.in/yaml.v3"
)

// Mailer sends one email.
type Mailer interface {
	Email(ctx context.Context, address, subject, content string) error
}

// DefaultTimeout bounds one email by default, retries included.
const DefaultTimeout = 10 * time.Second

// Taskcluster is a Mailer: a Taskcluster deployment's notify service. The client
// needs the scope notify:email:<address> for every owner it mails.
type Taskcluster struct {
	RootURL     string
	Credentials *tcclient.Credentials
	// Timeout bounds one email (default DefaultTimeout).
	Timeout time.Duration
}

// Email sends an email through notify.email. Errors name the service's status, never
// the request (which carries the credentials' signature).
func (t *Taskcluster) Email(ctx context.Context, address, subject, content string) error {
	if t.RootURL == "" {
		return errors.New("taskcluster notify: no root URL configured")
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := tcnotify.New(t.Credentials, t.RootURL)
	c.Context = ctx
	done := make(chan error, 1)
	// The client's retries do not watch the context; waiting here keeps the bound.
	go func() {
		done <- c.Email(&tcnotify.SendEmailRequest{Address: address, Subject: subject, Content: content})
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("taskcluster notify.email at %s: %s", t.RootURL, describe(err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("taskcluster notify.email at %s: %w", t.RootURL, ctx.Err())
	}
}

func describe(err error) string {
	var apiErr *tcclient.APICallException
	if errors.As(err, &apiErr) && apiErr.CallSummary != nil && apiErr.CallSummary.HTTPResponse != nil {
		return fmt.Sprintf("answered %s", apiErr.CallSummary.HTTPResponse.Status)
	}
	return "the service could not be reached"
}

// PoolError is a worker pool error as it is mailed.
type PoolError struct {
	WorkerPoolID, ErrorID, Title, Description string
	Extra                                     map[string]any
}

// Message is the subject and Markdown body of the email about e, laid out as
// worker-manager's: the description between rules, the error id, and the extra
// information as YAML.
func (e PoolError) Message() (subject, content string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Worker Manager has encountered an error while trying to provision the worker pool %s:\n\n", e.WorkerPoolID)
	rule := strings.Repeat("~", 39)
	fmt.Fprintf(&b, "%s\n\n%s\n\n%s\n\nErrorId: %s", rule, e.Description, rule, e.ErrorID)
	if len(e.Extra) > 0 {
		if out, err := yaml.Marshal(e.Extra); err == nil { // keys sorted
			fmt.Fprintf(&b, "\n\nIt includes the extra information:\n\n```\n%s```", out)
		}
	}
	return "Taskcluster Worker Manager Error: " + e.Title, b.String()
}

// Send mails e to owner through m.
func Send(ctx context.Context, m Mailer, owner string, e PoolError) error {
	subject, content := e.Message()
	return m.Email(ctx, owner, subject, content)
}
