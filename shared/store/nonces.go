package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrReplayed means a Hawk request's (client id, nonce, timestamp) was used before.
var ErrReplayed = errors.New("request already served")

// UseNonce records that a Hawk request with (clientID, nonce, ts) was served, until
// expires (when its timestamp leaves the allowed clock skew and the request would
// be refused anyway). A second use before then is ErrReplayed: the record is one
// conditional write, so of any number of concurrent uses exactly one succeeds.
//
// The record's key is a SHA-256 of the three, so that a key is 43 bytes however
// long the client's values are; DynamoDB's TTL deletes it after expires.
func (s *Store) UseNonce(ctx context.Context, clientID, nonce, ts string, expires time.Time) error {
	sum := sha256.Sum256([]byte(strconv.Quote(clientID) + "\n" + strconv.Quote(nonce) + "\n" + strconv.Quote(ts)))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.tables.Nonces),
		Item: map[string]types.AttributeValue{
			attrNonce: str(base64.RawURLEncoding.EncodeToString(sum[:])),
			attrTTL:   num(ttlOf(expires)),
		},
		// An expired record DynamoDB has not swept yet does not count.
		ConditionExpression:       aws.String("attribute_not_exists(#n) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#n": attrNonce, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(s.Now().Unix())},
	})
	if isConditionFailed(err) {
		return ErrReplayed
	}
	if err != nil {
		return fmt.Errorf("record nonce: %w", err)
	}
	return nil
}
