package ec2_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
)

// ec2Server is an HTTP server speaking EC2's query protocol to the real SDK: it
// records each request's form and answers with what handle returns (an HTTP
// status and an XML body).
type ec2Server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []url.Values
	headers  []http.Header
	handle   func(form url.Values) (int, string)
}

func newEC2Server(t *testing.T, handle func(form url.Values) (int, string)) *ec2Server {
	t.Helper()
	s := &ec2Server{handle: handle}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, r.PostForm)
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		status, body := s.handle(r.PostForm)
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// forms returns the recorded request forms, flattened to one value per key.
func (s *ec2Server) forms() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]string, len(s.requests))
	for i, f := range s.requests {
		out[i] = map[string]string{}
		for k, v := range f {
			out[i][k] = v[0]
			if len(v) > 1 {
				out[i][k] = fmt.Sprint(v)
			}
		}
	}
	return out
}

// errorBody is EC2's XML error response.
func errorBody(code, message string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>` + code + `</Code><Message>` + message + `</Message></Error></Errors><RequestID>req-0001</RequestID></Response>`
}

// staticConfig is an AWS configuration with dummy credentials, as for moto.
func staticConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
}

// newSet builds the driver against endpoint.
func newSet(t *testing.T, endpoint string, id cloud.InstanceSetID, change func(*ec2.Config), opts ...ec2.Option) *ec2.InstanceSet {
	t.Helper()
	cfg := ec2.Config{Regions: []string{"us-east-1", "us-west-2"}, Endpoint: endpoint, MaxAttempts: 1}
	if change != nil {
		change(&cfg)
	}
	set, err := ec2.New(context.Background(), cfg, id, append([]ec2.Option{ec2.WithAWSConfig(staticConfig())}, opts...)...)
	if err != nil {
		t.Fatalf("ec2.New: %v", err)
	}
	return set
}

const instanceXML = `<item>
  <instanceId>%s</instanceId><imageId>ami-0abc</imageId>
  <instanceState><code>%d</code><name>%s</name></instanceState>
  <privateIpAddress>10.0.0.%d</privateIpAddress>
  <instanceType>m5.large</instanceType>
  <launchTime>2024-05-01T12:00:00.000Z</launchTime>
  <placement><availabilityZone>us-east-1b</availabilityZone></placement>
  %s
  <tagSet><item><key>workerfleet:instance-set</key><value>set-1</value></item><item><key>workerfleet:pool</key><value>p</value></item></tagSet>
</item>`

// instanceItem is one instance of a response's instancesSet.
func instanceItem(id, state string, n int, spot bool) string {
	codes := map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48}
	lifecycle := ""
	if spot {
		lifecycle = "<instanceLifecycle>spot</instanceLifecycle>"
	}
	return fmt.Sprintf(instanceXML, id, codes[state], state, n, lifecycle)
}

// describeBody is a DescribeInstances response of one reservation per item.
func describeBody(next string, items ...string) string {
	body := `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-d</requestId><reservationSet>`
	for i, it := range items {
		body += fmt.Sprintf(`<item><reservationId>r-%d</reservationId><ownerId>123456789012</ownerId><instancesSet>%s</instancesSet></item>`, i, it)
	}
	body += `</reservationSet>`
	if next != "" {
		body += `<nextToken>` + next + `</nextToken>`
	}
	return body + `</DescribeInstancesResponse>`
}
