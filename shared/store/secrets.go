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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Secret is an aws-provisioner secret: data and scopes a booting worker trades its
// token for, once.
type Secret struct {
	Token      string          `dynamodbav:"token"`
	WorkerType string          `dynamodbav:"workerType"`
	Secrets    json.RawMessage `dynamodbav:"secrets"`
	Scopes     []string        `dynamodbav:"scopes"`
	Expiration time.Time       `dynamodbav:"expiration"`
	Created    time.Time       `dynamodbav:"created"`
	TTL        int64           `dynamodbav:"ttl"`
}

func secretKey(token string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"token": str(token)}
}

// CreateSecret stores a secret under its token. Storing the same secret again is a
// no-op; a different secret under a token in use is ErrExists.
func (s *Store) CreateSecret(ctx context.Context, sec Secret) error {
	sec.Created = s.Now()
	sec.TTL = ttlOf(sec.Expiration)
	if sec.Scopes == nil {
		sec.Scopes = []string{}
	}
	err := s.create(ctx, s.tables.Secrets, "token", &sec)
	if !errors.Is(err, ErrExists) {
		return err
	}
	var old Secret
	if gerr := s.getItem(ctx, s.tables.Secrets, secretKey(sec.Token), &old); gerr != nil {
		if errors.Is(gerr, ErrNotFound) {
			return ErrExists // consumed between the two calls
		}
		return gerr
	}
	if old.WorkerType == sec.WorkerType && bytes.Equal(old.Secrets, sec.Secrets) &&
		slices.Equal(old.Scopes, sec.Scopes) && old.Expiration.Equal(sec.Expiration) {
		return nil
	}
	return ErrExists
}

// ConsumeSecret removes a secret and returns it, atomically: of any number of
// concurrent calls for one token exactly one gets the secret, the others ErrNotFound.
// An expired secret is removed too, and reported as ErrNotFound.
func (s *Store) ConsumeSecret(ctx context.Context, token string) (Secret, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.tables.Secrets),
		Key:                      secretKey(token),
		ConditionExpression:      aws.String("attribute_exists(#t)"),
		ExpressionAttributeNames: map[string]string{"#t": "token"},
		ReturnValues:             types.ReturnValueAllOld,
	})
	if isConditionFailed(err) {
		return Secret{}, ErrNotFound
	}
	if err != nil {
		return Secret{}, fmt.Errorf("consume secret: %w", err)
	}
	var sec Secret
	if err := unmarshal(out.Attributes, &sec); err != nil {
		return Secret{}, err
	}
	if !s.Now().Before(sec.Expiration) {
		return Secret{}, ErrNotFound
	}
	return sec, nil
}

// DeleteSecret removes a secret; removing an absent (consumed, expired or never
// created) secret is not an error.
func (s *Store) DeleteSecret(ctx context.Context, token string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.tables.Secrets), Key: secretKey(token)})
	if err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}
