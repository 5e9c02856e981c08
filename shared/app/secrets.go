package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

// withoutSecrets is for a function that authenticates no one, issues nothing and
// seals nothing (ec2-events): it reads no secrets, which its role may not, and
// ephemeral random values stand in for the root token and the signing key.
func withoutSecrets(cfg *Config) error {
	token, err := auth.NewAccessToken()
	if err != nil {
		return err
	}
	key, err := auth.NewAccessToken()
	if err != nil {
		return err
	}
	if cfg.RootClientID == "" {
		cfg.RootClientID = "root"
	}
	cfg.RootAccessToken, cfg.SigningKey = token, []byte(key)
	return nil
}

// loadSecrets reads from Secrets Manager the secrets the function needs and was not
// given: the root credentials and the signing key when withRoot, and in Taskcluster
// mode the Taskcluster client's access token. It reads them all at once through one
// client: a function's init waits for one round trip, not one per secret.
func (c *Config) loadSecrets(ctx context.Context, withRoot bool, rootARN, keyARN, tcARN string) error {
	withTC := c.TaskclusterMode()
	if withRoot && (rootARN == "" || keyARN == "") {
		return errors.New("set ROOT_ACCESS_TOKEN and SIGNING_KEY, or ROOT_CREDENTIALS_SECRET and SIGNING_KEY_SECRET")
	}
	errNoTCSecret := errors.New("TASKCLUSTER_CLIENT_ID is set: set TASKCLUSTER_ACCESS_TOKEN_SECRET to the Secrets Manager secret holding its access token")
	switch {
	case !withRoot && !withTC:
		return nil
	case !withRoot && tcARN == "":
		return errNoTCSecret // nothing to read
	}
	awsCfg, err := telemetry.AWSConfig(ctx)
	if err != nil {
		return err
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	var root, key, tc string
	var rootErr, keyErr, tcErr error
	var wg sync.WaitGroup
	if withRoot {
		wg.Go(func() { root, rootErr = secretString(ctx, sm, rootARN) })
		wg.Go(func() { key, keyErr = secretString(ctx, sm, keyARN) })
	}
	if withTC && tcARN != "" {
		wg.Go(func() { tc, tcErr = secretString(ctx, sm, tcARN) })
	}
	wg.Wait()
	if withRoot {
		if rootErr != nil {
			return fmt.Errorf("read root credentials secret: %w", rootErr)
		}
		if keyErr != nil {
			return fmt.Errorf("read signing key secret: %w", keyErr)
		}
		var creds struct {
			ClientID    string `json:"clientId"`
			AccessToken string `json:"accessToken"`
		}
		if err := json.Unmarshal([]byte(root), &creds); err != nil {
			return fmt.Errorf("root credentials secret is not {clientId, accessToken}: %w", err)
		}
		c.RootClientID, c.RootAccessToken, c.SigningKey = creds.ClientID, creds.AccessToken, []byte(key)
	}
	if !withTC {
		return nil
	}
	switch {
	case tcARN == "":
		return errNoTCSecret
	case tcErr != nil:
		return fmt.Errorf("read the Taskcluster access token secret: %w", tcErr)
	}
	token, err := parseTaskclusterToken(tc, c.TaskclusterClientID)
	if err != nil {
		return fmt.Errorf("the Taskcluster access token secret: %w", err)
	}
	c.TaskclusterAccessToken = token
	return nil
}

func secretString(ctx context.Context, sm *secretsmanager.Client, arn string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.SecretString), nil
}

// parseTaskclusterToken reads a secret string that is an access token, or
// {"clientId": ..., "accessToken": ...}. Errors never quote the secret.
func parseTaskclusterToken(secret, clientID string) (string, error) {
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, "{") {
		return secret, nil
	}
	var v struct {
		ClientID    string `json:"clientId"`
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal([]byte(secret), &v); err != nil || v.AccessToken == "" {
		return "", errors.New("it is JSON but not {\"accessToken\": ...}")
	}
	if v.ClientID != "" && v.ClientID != clientID {
		return "", fmt.Errorf("it is for client %q, not TASKCLUSTER_CLIENT_ID %q", v.ClientID, clientID)
	}
	return v.AccessToken, nil
}
