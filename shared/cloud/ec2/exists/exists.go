// Package exists asks EC2 whether the images and security groups a worker type names
// exist, as the aws-provisioner did at createWorkerType and updateWorkerType
// (check-for-ami, describe-security-group). It uses only the EC2 client's two
// Describe calls, apart from the driver, so the API function that needs it stays
// small.
package exists

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// Checker answers for any region. Its two calls are functions, not an interface
// over the EC2 client: a client held in an interface keeps every one of its
// hundreds of operations in the binary (24 MB more for the API function).
type Checker struct {
	DescribeImages         func(ctx context.Context, region string, in *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error)
	DescribeSecurityGroups func(ctx context.Context, region string, in *ec2.DescribeSecurityGroupsInput) (*ec2.DescribeSecurityGroupsOutput, error)
}

// New is a Checker whose clients are built from cfg, one per region (on first
// use, then kept), against endpoint ("" is EC2's own; a moto server's URL in the
// local stack).
func New(cfg aws.Config, endpoint string) *Checker {
	var mu sync.Mutex
	clients := map[string]*ec2.Client{}
	client := func(region string) *ec2.Client {
		mu.Lock()
		defer mu.Unlock()
		c, ok := clients[region]
		if !ok {
			c = ec2.NewFromConfig(cfg, func(o *ec2.Options) {
				o.Region = region
				if endpoint != "" {
					o.BaseEndpoint = aws.String(endpoint)
				}
			})
			clients[region] = c
		}
		return c
	}
	return &Checker{
		DescribeImages: func(ctx context.Context, region string, in *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
			return client(region).DescribeImages(ctx, in)
		},
		DescribeSecurityGroups: func(ctx context.Context, region string, in *ec2.DescribeSecurityGroupsInput) (*ec2.DescribeSecurityGroupsOutput, error) {
			return client(region).DescribeSecurityGroups(ctx, in)
		},
	}
}

// MissingImages returns those of ids that region has no image for (malformed ids
// included), in the order given.
func (c *Checker) MissingImages(ctx context.Context, region string, ids []string) ([]string, error) {
	var missing []string
	for _, id := range ids {
		out, err := c.DescribeImages(ctx, region, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		switch {
		case notFound(err, "InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable"):
			missing = append(missing, id)
		case err != nil:
			return nil, fmt.Errorf("describe image %s in %s: %w", id, region, err)
		case !slices.ContainsFunc(out.Images, func(im types.Image) bool { return aws.ToString(im.ImageId) == id }):
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// MissingSecurityGroups returns those of names (security group names, not ids, as
// launch specs' SecurityGroups hold) that region has no group of, in the order given.
func (c *Checker) MissingSecurityGroups(ctx context.Context, region string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out, err := c.DescribeSecurityGroups(ctx, region, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("group-name"), Values: names}},
	})
	if err != nil {
		return nil, fmt.Errorf("describe security groups in %s: %w", region, err)
	}
	found := map[string]bool{}
	for _, g := range out.SecurityGroups {
		found[aws.ToString(g.GroupName)] = true
	}
	var missing []string
	for _, n := range names {
		if !found[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

func notFound(err error, codes ...string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(codes, ae.ErrorCode())
}
