package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Client is an API client. Its access token is stored sealed (encrypted with the
// deployment's key, bound to the client id), never in plain text.
type Client struct {
	ClientID          string    `dynamodbav:"clientId"`
	SealedAccessToken []byte    `dynamodbav:"sealedAccessToken"`
	Scopes            []string  `dynamodbav:"scopes"`
	Description       string    `dynamodbav:"description"`
	Created           time.Time `dynamodbav:"created"`
	LastModified      time.Time `dynamodbav:"lastModified"`
	Expires           time.Time `dynamodbav:"expires,omitempty"` // zero: never
	Disabled          bool      `dynamodbav:"disabled"`
	Version           int64     `dynamodbav:"version"`
}

func (c *Client) version() int64     { return c.Version }
func (c *Client) setVersion(v int64) { c.Version = v }

func clientKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"clientId": str(id)}
}

// CreateClient stores a new client; ErrExists if the id is taken.
func (s *Store) CreateClient(ctx context.Context, c Client) (Client, error) {
	now := s.Now()
	c.Created, c.LastModified, c.Version = now, now, 1
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	if err := s.create(ctx, s.tables.Clients, "clientId", &c); err != nil {
		return Client{}, err
	}
	return c, nil
}

// UpdateClient applies fn to a client with optimistic concurrency.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error) {
	return update(ctx, s, s.tables.Clients, clientKey(id), func(c *Client) error {
		if err := fn(c); err != nil {
			return err
		}
		c.LastModified = later(s.Now(), c.LastModified)
		return nil
	})
}

// Client reads one client; ErrNotFound if absent.
func (s *Store) Client(ctx context.Context, id string) (Client, error) {
	var c Client
	if err := s.getItem(ctx, s.tables.Clients, clientKey(id), &c); err != nil {
		return Client{}, err
	}
	return c, nil
}

// DeleteClient removes a client; removing an absent one is not an error.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.tables.Clients), Key: clientKey(id)}); err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	return nil
}

// Clients returns every client.
func (s *Store) Clients(ctx context.Context) ([]Client, error) {
	return scanAll[Client](ctx, s, s.tables.Clients)
}
