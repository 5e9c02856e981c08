package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The definitions' generation: each of the worker types and worker pools tables
// holds one more item, under the reserved key generationKey, whose token every
// write of a definition replaces after the write (bumpGeneration). A reader that
// read the tokens (DefinitionsGeneration) before it scanned the definitions knows
// they have not changed while the tokens are the same: the provisioner scans them
// only then, not every iteration. No worker type name or workerPoolId can start
// with '~', and listings leave such items out (isReserved).
const (
	generationKey  = "~generation"
	attrGeneration = "token"
)

// isReserved reports whether a definitions table's item is the generation's.
func isReserved(item map[string]types.AttributeValue, hashKey string) bool {
	v, ok := item[hashKey].(*types.AttributeValueMemberS)
	return ok && strings.HasPrefix(v.Value, "~")
}

// bumpGeneration gives the table's generation a new token. A failure is returned
// wrapped; the definition itself is written by then, and readers see it at their
// next full read at the latest.
func (s *Store) bumpGeneration(ctx context.Context, table, hashKey string) error {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("new generation of %s: %w", table, err)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item:      map[string]types.AttributeValue{hashKey: str(generationKey), attrGeneration: str(hex.EncodeToString(b))},
	})
	if err != nil {
		return fmt.Errorf("new generation of %s: %w", table, err)
	}
	return nil
}

// DefinitionsGeneration returns a token that changes whenever a worker type or
// worker pool is created, updated or deleted through the store (two consistent
// reads). "" means no definition was ever written through a store that keeps
// generations: a reader should not rely on it.
func (s *Store) DefinitionsGeneration(ctx context.Context) (string, error) {
	var parts [2]string
	for i, t := range []struct{ table, key string }{{s.tables.WorkerTypes, "workerType"}, {s.tables.WorkerPools, "workerPoolId"}} {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(t.table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{t.key: str(generationKey)},
		})
		if err != nil {
			return "", fmt.Errorf("generation of %s: %w", t.table, err)
		}
		if v, ok := out.Item[attrGeneration].(*types.AttributeValueMemberS); ok {
			parts[i] = v.Value
		}
	}
	if parts[0] == "" && parts[1] == "" {
		return "", nil
	}
	return parts[0] + "/" + parts[1], nil
}
