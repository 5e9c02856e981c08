package exists_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/workerfleet/workerfleet/shared/cloud/ec2/exists"
	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
)

// TestAgainstMoto: what exists in (moto's) EC2 is found, what does not is reported
// missing, in the order asked, as the aws-provisioner's checks at createWorkerType.
func TestAgainstMoto(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := motoserver.Start(ctx)
	if errors.Is(err, motoserver.ErrNotInstalled) {
		t.Skip("moto_server is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	endpoint := func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.Endpoint()) }
	client := ec2.NewFromConfig(cfg, endpoint)

	// An image of our own, from an instance of one of moto's.
	images, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(images.Images) == 0 {
		t.Fatalf("moto's images: %v, %v", images, err)
	}
	known := aws.ToString(images.Images[0].ImageId)
	if _, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("livelog-direct"), Description: aws.String("t")}); err != nil {
		t.Fatal(err)
	}

	c := exists.New(cfg, srv.Endpoint())
	missing, err := c.MissingImages(ctx, "us-east-1", []string{"ami-0123456789abcdef9", known, "not-an-ami"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"ami-0123456789abcdef9", "not-an-ami"}) {
		t.Errorf("missing images %v; want the unknown and the malformed one, not %s", missing, known)
	}
	missing, err = c.MissingSecurityGroups(ctx, "us-east-1", []string{"no-such-group", "livelog-direct", "default"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"no-such-group"}) {
		t.Errorf("missing security groups %v; want [no-such-group]", missing)
	}
	// The group exists in us-east-1 only.
	if missing, err := c.MissingSecurityGroups(ctx, "us-west-2", []string{"livelog-direct"}); err != nil || !slices.Equal(missing, []string{"livelog-direct"}) {
		t.Errorf("in another region: %v, %v", missing, err)
	}
}
