package dynamolocal

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestReachableOnlyFromHereWithItsKey: the server listens on 127.0.0.1 alone, and
// a client with any other access key id sees none of its tables.
func TestReachableOnlyFromHereWithItsKey(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	u, _ := url.Parse(s.Endpoint)
	port, _ := strconv.Atoi(u.Port())
	addrs := listeners(t, port)
	if len(addrs) == 0 {
		t.Fatalf("nothing listens on port %d", port)
	}
	for _, a := range addrs {
		if a != "127.0.0.1" && a != "::ffff:127.0.0.1" && a != "::1" {
			t.Errorf("DynamoDB Local listens on %s port %d, want loopback only", a, port)
		}
	}

	if _, err := s.Client().CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("secrets"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"local", "AKIAIOSFODNN7EXAMPLE", "anything"} {
		out, err := NewClient(s.Endpoint, key).ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.TableNames) != 0 {
			t.Errorf("access key id %q sees tables %v", key, out.TableNames)
		}
	}
	if out, err := s.Client().ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil || len(out.TableNames) != 1 {
		t.Errorf("the server's own key sees %v, %v", out, err)
	}
}

// listeners are the addresses listening on a TCP port, from /proc/net/tcp{,6}.
func listeners(t *testing.T, port int) []string {
	t.Helper()
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Skipf("cannot read %s: %v", f, err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // LISTEN
				continue
			}
			host, p, ok := strings.Cut(fields[1], ":")
			if n, err := strconv.ParseInt(p, 16, 32); !ok || err != nil || int(n) != port {
				continue
			}
			out = append(out, procAddr(host))
		}
	}
	return out
}

// procAddr decodes /proc/net's hex address (little-endian 32-bit words).
func procAddr(h string) string {
	var b []byte
	for i := 0; i+8 <= len(h); i += 8 {
		w, _ := strconv.ParseUint(h[i:i+8], 16, 32)
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	if strings.HasPrefix(string(b[:12]), "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff") {
		return fmt.Sprintf("::ffff:%d.%d.%d.%d", b[12], b[13], b[14], b[15])
	}
	if string(b) == "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" {
		return "::1"
	}
	return fmt.Sprintf("%x", b)
}
