package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// launchConfigPool is the partition of a pool's launch configs in the Workers
// table (see workerConfigPool for why a '~' keeps them apart from workers).
func launchConfigPool(pool string) string { return "~launchConfig/" + pool }

// LaunchConfig is a launch config a worker pool has had, as today's worker-manager
// keeps them: an id unique in the pool forever, the content first written under it,
// and when. Whether it is archived (no longer in the pool's definition) is read off
// the pool's definition, which is the one truth.
type LaunchConfig struct {
	Pool           string    `dynamodbav:"pool"`   // launchConfigPool(WorkerPoolID)
	Key            string    `dynamodbav:"worker"` // the launch config id
	WorkerPoolID   string    `dynamodbav:"workerPoolId"`
	LaunchConfigID string    `dynamodbav:"launchConfigId"`
	Configuration  string    `dynamodbav:"configuration"` // as written
	Content        string    `dynamodbav:"content"`       // pool.LaunchConfigContent
	Created        time.Time `dynamodbav:"created"`
	LastModified   time.Time `dynamodbav:"lastModified"`
}

// ErrLaunchConfigTaken means a launch config id is already the pool's, with other
// content.
var ErrLaunchConfigTaken = errors.New("launch config id taken by other content")

// LaunchConfigIdentity is a launch config as a pool's definition holds it: its id,
// as written, and the hash of its content (pool.LaunchConfigContent).
type LaunchConfigIdentity struct {
	ID      string
	Written []byte
	Content string
}

// RecordLaunchConfigs remembers the launch configs of a pool's new definition
// under their ids. An id the pool has had with the same content (workerManager
// settings aside) is fine and changes nothing; with other content it is
// ErrLaunchConfigTaken, however long ago the id was used: an id names one launch
// config forever. It returns the ids new to the pool. One query, and a conditional
// write per new launch config.
func (s *Store) RecordLaunchConfigs(ctx context.Context, poolID string, lcs []LaunchConfigIdentity) ([]string, error) {
	return s.launchConfigs(ctx, poolID, lcs, true)
}

// CheckLaunchConfigs is RecordLaunchConfigs without writing anything: it returns
// the ids that would be new, or ErrLaunchConfigTaken.
func (s *Store) CheckLaunchConfigs(ctx context.Context, poolID string, lcs []LaunchConfigIdentity) ([]string, error) {
	return s.launchConfigs(ctx, poolID, lcs, false)
}

func (s *Store) launchConfigs(ctx context.Context, poolID string, lcs []LaunchConfigIdentity, write bool) ([]string, error) {
	had, err := s.AllLaunchConfigs(ctx, poolID)
	if err != nil {
		return nil, err
	}
	known := make(map[string]string, len(had))
	for _, lc := range had {
		known[lc.LaunchConfigID] = lc.Content
	}
	var created []string
	for _, lc := range lcs {
		if content, ok := known[lc.ID]; ok {
			if content != lc.Content {
				return created, fmt.Errorf("launch config %s of %s: %w", lc.ID, poolID, ErrLaunchConfigTaken)
			}
			continue
		}
		if !write {
			created = append(created, lc.ID)
			continue
		}
		isNew, err := s.recordLaunchConfig(ctx, poolID, lc)
		if err != nil {
			return created, err
		}
		if isNew {
			created = append(created, lc.ID)
		}
	}
	return created, nil
}

// recordLaunchConfig writes one launch config unless its id exists; if it does (a
// concurrent writer), the content must agree.
func (s *Store) recordLaunchConfig(ctx context.Context, poolID string, lc LaunchConfigIdentity) (bool, error) {
	now := s.Now()
	key := workerKey(launchConfigPool(poolID), lc.ID)
	item, err := marshal(&LaunchConfig{Pool: launchConfigPool(poolID), Key: lc.ID, WorkerPoolID: poolID, LaunchConfigID: lc.ID,
		Configuration: string(lc.Written), Content: lc.Content, Created: now, LastModified: now})
	if err != nil {
		return false, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.tables.Workers),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#p)"),
		ExpressionAttributeNames: map[string]string{"#p": attrPool},
	})
	if err == nil {
		return true, nil
	}
	if !isConditionFailed(err) {
		return false, fmt.Errorf("record launch config %s of %s: %w", lc.ID, poolID, err)
	}
	var cur LaunchConfig
	if err := s.getItem(ctx, s.tables.Workers, key, &cur); err != nil {
		return false, fmt.Errorf("read launch config %s of %s: %w", lc.ID, poolID, err)
	}
	if cur.Content != lc.Content {
		return false, fmt.Errorf("launch config %s of %s: %w", lc.ID, poolID, ErrLaunchConfigTaken)
	}
	return false, nil
}

// AllLaunchConfigs returns every launch config a pool has had.
func (s *Store) AllLaunchConfigs(ctx context.Context, poolID string) ([]LaunchConfig, error) {
	return queryAll[LaunchConfig](ctx, s, &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Workers),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPool},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(launchConfigPool(poolID))},
		ConsistentRead:            aws.Bool(true),
	}, "launch configs of "+poolID)
}

// LaunchConfigs returns one page of the launch configs a pool has had, by id.
func (s *Store) LaunchConfigs(ctx context.Context, poolID string, page Page) ([]LaunchConfig, string, error) {
	return queryPage[LaunchConfig](ctx, s, &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Workers),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPool},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(launchConfigPool(poolID))},
		ConsistentRead:            aws.Bool(true),
	}, "launchConfigs:"+poolID, page, "launch configs of "+poolID)
}
