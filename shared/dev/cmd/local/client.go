package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

type scopeList []string

func (s *scopeList) String() string     { return strings.Join(*s, " ") }
func (s *scopeList) Set(v string) error { *s = append(*s, v); return nil }

const clientUsage = `usage:
  client create ID -scope SCOPE [-scope SCOPE ...] [-description TEXT] [-expires 720h] [-deployed]
  client list [-deployed]
  client delete ID [-deployed]

Without -deployed, the client goes into the running local stack's tables.
With -deployed, into a deployment's: set CLIENTS_TABLE and SIGNING_KEY_SECRET from the
stack's outputs (ClientsTableName, SigningKeySecretArn) and have AWS credentials.`

// client manages API clients.
func client(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(clientUsage)
	}
	cmd, rest := args[0], args[1:]
	var id string
	if cmd == "create" || cmd == "delete" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return errors.New(clientUsage)
		}
		id, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	var scopes scopeList
	fs.Var(&scopes, "scope", "a scope the client holds (repeat for more)")
	description := fs.String("description", "", "what the client is for")
	expires := fs.Duration("expires", 0, "how long the client lives (0: forever)")
	deployed := fs.Bool("deployed", false, "use a deployment's clients table (CLIENTS_TABLE, SIGNING_KEY_SECRET)")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	st, sealer, err := clientsTable(ctx, *deployed)
	if err != nil {
		return err
	}
	switch cmd {
	case "create":
		var exp time.Time
		if *expires > 0 {
			exp = time.Now().Add(*expires)
		}
		token, err := app.CreateClient(ctx, st, sealer, id, *description, scopes, exp)
		if err != nil {
			return err
		}
		fmt.Printf("created client %s with scopes %v\n\n  export TASKCLUSTER_CLIENT_ID=%s\n  export TASKCLUSTER_ACCESS_TOKEN=%s\n\nThe access token is shown only now.\n",
			id, []string(scopes), id, token)
	case "list":
		cs, err := st.Clients(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "CLIENT\tSCOPES\tEXPIRES\tDISABLED")
		for _, c := range cs {
			exp := "never"
			if !c.Expires.IsZero() {
				exp = c.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%v\n", c.ClientID, strings.Join(c.Scopes, " "), exp, c.Disabled)
		}
		return w.Flush()
	case "delete":
		if err := st.DeleteClient(ctx, id); err != nil {
			return err
		}
		fmt.Println("deleted client", id)
	default:
		return errors.New(clientUsage)
	}
	return nil
}

// clientsTable opens the running local stack's clients table, or a deployment's.
func clientsTable(ctx context.Context, deployed bool) (*store.Store, *auth.Sealer, error) {
	if !deployed {
		s, err := readState()
		if err != nil {
			return nil, nil, err
		}
		db := dynamolocal.NewClient(s.DynamoDBEndpoint, s.DynamoDBKeyID)
		sealer, err := auth.NewSealer([]byte(s.SigningKey))
		if err != nil {
			return nil, nil, err
		}
		return store.New(db, store.Tables{Clients: store.LogicalIDs.Clients}, []byte(s.SigningKey)), sealer, nil
	}
	table := os.Getenv("CLIENTS_TABLE")
	if table == "" {
		return nil, nil, errors.New("set CLIENTS_TABLE (the stack's ClientsTableName output)")
	}
	cfg, err := telemetry.AWSConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	key := []byte(os.Getenv("SIGNING_KEY"))
	if len(key) == 0 {
		arn := os.Getenv("SIGNING_KEY_SECRET")
		if arn == "" {
			return nil, nil, errors.New("set SIGNING_KEY_SECRET (the stack's SigningKeySecretArn output)")
		}
		out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return nil, nil, fmt.Errorf("read the signing key: %w", err)
		}
		key = []byte(aws.ToString(out.SecretString))
	}
	sealer, err := auth.NewSealer(key)
	if err != nil {
		return nil, nil, err
	}
	return store.New(dynamodb.NewFromConfig(cfg), store.Tables{Clients: table}, key), sealer, nil
}
