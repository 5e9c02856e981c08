package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Secret is an aws-provisioner secret: data and scopes a booting worker trades its
// token for, once. Consuming or removing a secret erases its data and leaves a
// tombstone until its expiration, so its token can never be filled again: not by a
// repeated createSecret, and not by a provisioning iteration retried after its
// instance already read the secret.
type Secret struct {
	Token      string          `dynamodbav:"token"`
	WorkerType string          `dynamodbav:"workerType"`
	Secrets    json.RawMessage `dynamodbav:"secrets,omitempty"`
	Scopes     []string        `dynamodbav:"scopes,omitempty"`
	Expiration time.Time       `dynamodbav:"expiration"`
	Created    time.Time       `dynamodbav:"created"`
	Consumed   time.Time       `dynamodbav:"consumed,omitempty"`
	Removed    time.Time       `dynamodbav:"removed,omitempty"`
	TTL        int64           `dynamodbav:"ttl"`
}

// ErrSecretUsed means a token has already been read or removed.
var ErrSecretUsed = fmt.Errorf("secret already used or removed: %w", ErrExists)

func secretKey(token string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"token": str(token)}
}

// CreateSecret stores a secret under its token. Storing the same secret again is a
// no-op; a different secret under a live token is ErrExists, and any secret under a
// token already consumed or removed is ErrSecretUsed (which is an ErrExists).
func (s *Store) CreateSecret(ctx context.Context, sec Secret) error {
	sec.Created = s.Now()
	sec.TTL = ttlOf(sec.Expiration)
	sec.Consumed, sec.Removed = time.Time{}, time.Time{}
	if sec.Scopes == nil {
		sec.Scopes = []string{}
	}
	if len(sec.Secrets) == 0 {
		sec.Secrets = json.RawMessage("{}")
	}
	err := s.create(ctx, s.tables.Secrets, "token", &sec)
	if !errors.Is(err, ErrExists) {
		return err
	}
	var old Secret
	if gerr := s.getItem(ctx, s.tables.Secrets, secretKey(sec.Token), &old); gerr != nil {
		if errors.Is(gerr, ErrNotFound) {
			return ErrSecretUsed
		}
		return gerr
	}
	if !old.Consumed.IsZero() || !old.Removed.IsZero() {
		return ErrSecretUsed
	}
	if old.WorkerType == sec.WorkerType && bytes.Equal(old.Secrets, sec.Secrets) &&
		slices.Equal(old.Scopes, sec.Scopes) && old.Expiration.Equal(sec.Expiration) {
		return nil
	}
	return ErrExists
}

// Secret reads a live secret without consuming it: ErrNotFound when it never
// existed, was consumed or removed, or has expired.
func (s *Store) Secret(ctx context.Context, token string) (Secret, error) {
	var sec Secret
	if err := s.getItem(ctx, s.tables.Secrets, secretKey(token), &sec); err != nil {
		return Secret{}, err
	}
	if !sec.Consumed.IsZero() || !sec.Removed.IsZero() || len(sec.Secrets) == 0 || !s.Now().Before(sec.Expiration) {
		return Secret{}, ErrNotFound
	}
	return sec, nil
}

// ConsumeSecret erases the data of a secret read with Secret, if it is still that
// secret, unconsumed: of any number of concurrent calls for one token exactly one
// succeeds, the others get ErrNotFound.
func (s *Store) ConsumeSecret(ctx context.Context, sec Secret) error {
	created, err := attributevalue.Marshal(sec.Created) // as the record holds it
	if err != nil {
		return fmt.Errorf("consume secret: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.tables.Secrets),
		Key:                      secretKey(sec.Token),
		UpdateExpression:         aws.String("REMOVE #s, #sc SET #c = :now"),
		ConditionExpression:      aws.String("attribute_exists(#s) AND #cr = :created"),
		ExpressionAttributeNames: map[string]string{"#s": "secrets", "#sc": "scopes", "#c": "consumed", "#cr": "created"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":     str(s.Now().Format(time.RFC3339Nano)),
			":created": created,
		},
	})
	if isConditionFailed(err) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("consume secret: %w", err)
	}
	return nil
}

// DeleteSecret erases a secret's data; removing an absent (consumed, expired, removed
// or never created) secret is not an error.
func (s *Store) DeleteSecret(ctx context.Context, token string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.tables.Secrets),
		Key:                      secretKey(token),
		UpdateExpression:         aws.String("REMOVE #s, #sc SET #r = :now"),
		ConditionExpression:      aws.String("attribute_exists(#t)"),
		ExpressionAttributeNames: map[string]string{"#s": "secrets", "#sc": "scopes", "#r": "removed", "#t": "token"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": str(s.Now().Format(time.RFC3339Nano)),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}
