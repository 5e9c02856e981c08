// Package ec2 is the cloud driver for Amazon EC2 (alias "ec2"): a cloud.InstanceSet
// that launches instances with RunInstances, lists them with DescribeInstances,
// terminates them with TerminateInstances and reads spot prices with
// DescribeSpotPriceHistory, and nothing else, through aws-sdk-go-v2.
//
// Those four calls sit behind a private interface, and SDK errors are translated
// into cloud's error classes once, where they come out of it (cloud.ClassifyEC2Error).
// The IAM permissions the driver needs are exactly: ec2:RunInstances and
// ec2:CreateTags (at launch, through TagSpecifications, on instances and volumes),
// ec2:TerminateInstances (on instances tagged workerfleet:instance-set=<id>),
// ec2:DescribeInstances and ec2:DescribeSpotPriceHistory; plus iam:PassRole for a
// launch spec that names an IamInstanceProfile.
package ec2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-xray-sdk-go/v2/instrumentation/awsv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// Alias is the name the driver is registered under.
const Alias = "ec2"

func init() {
	cloud.Register(cloud.Driver{
		Alias:   Alias,
		Name:    "Amazon EC2",
		Options: Options(),
		New: func(raw json.RawMessage, id cloud.InstanceSetID) (cloud.InstanceSet, error) {
			cfg, err := ParseConfig(raw)
			if err != nil {
				return nil, err
			}
			return New(context.Background(), cfg, id)
		},
	})
}

// Config is the driver's JSON configuration. AWS credentials and the default
// region come from the SDK's default chain (environment, shared config, the
// Lambda role), not from here.
type Config struct {
	// Regions the set may launch in, list and terminate in; at least one.
	Regions []string `json:"regions"`
	// Endpoint overrides the EC2 endpoint (the SDK's BaseEndpoint), for moto.
	Endpoint string `json:"endpoint"`
	// MaxAttempts bounds the SDK's attempts per call (adaptive retry); 0 = 3.
	MaxAttempts int `json:"maxAttempts"`
	// PageSize is the DescribeInstances page size (MaxResults, 5 to 1000); 0 = 1000.
	PageSize int `json:"pageSize"`
}

// Options documents the configuration keys.
func Options() []cloud.Option {
	return []cloud.Option{
		{Name: "regions", Default: "(required)", Help: "AWS regions the instance set may use, e.g. [\"us-east-1\",\"us-west-2\"]; a call for any other region is a config error"},
		{Name: "endpoint", Default: "", Help: "EC2 endpoint URL overriding the SDK's (BaseEndpoint), e.g. http://127.0.0.1:5000 for moto; empty uses AWS"},
		{Name: "maxAttempts", Default: "3", Help: "most attempts the SDK makes for one call, with adaptive retry on throttling; capacity, quota, price and config errors are never retried by the SDK"},
		{Name: "pageSize", Default: "1000", Help: "DescribeInstances page size (MaxResults, 5 to 1000)"},
	}
}

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// ParseConfig decodes and checks a JSON configuration; unknown keys are errors.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var cfg Config
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, fmt.Errorf("ec2 config: %w", err)
		}
		if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
			return Config{}, errors.New("ec2 config: trailing data after the object")
		}
	}
	return cfg, cfg.check()
}

func (c Config) check() error {
	if len(c.Regions) == 0 {
		return errors.New("ec2 config: regions is empty")
	}
	for _, r := range c.Regions {
		if !regionPattern.MatchString(r) {
			return fmt.Errorf("ec2 config: %q is not a region name", r)
		}
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("ec2 config: maxAttempts %d is negative", c.MaxAttempts)
	}
	if c.PageSize != 0 && (c.PageSize < 5 || c.PageSize > cloud.MaxDescribePageSize) {
		return fmt.Errorf("ec2 config: pageSize %d is not between 5 and %d", c.PageSize, cloud.MaxDescribePageSize)
	}
	return nil
}

// api is the part of the EC2 client the driver uses: these four calls and no other.
type api interface {
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, optFns ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)
}

var _ api = (*ec2.Client)(nil)

// InstanceSet is the EC2 driver's cloud.InstanceSet.
type InstanceSet struct {
	id      cloud.InstanceSetID
	cfg     Config
	awsCfg  aws.Config
	regions map[string]bool
	log     *slog.Logger

	mu      sync.Mutex
	clients map[string]api
}

var _ cloud.InstanceSet = (*InstanceSet)(nil)

// Option changes how New builds an InstanceSet.
type Option func(*settings)

type settings struct {
	awsCfg *aws.Config
	log    *slog.Logger
}

// WithAWSConfig uses cfg instead of the SDK's default configuration chain (tests
// pass static credentials and their own HTTP client this way).
func WithAWSConfig(cfg aws.Config) Option {
	return func(s *settings) { s.awsCfg = &cfg }
}

// WithLogger logs to l instead of slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.log = l }
}

// New builds the EC2 instance set for id. Without WithAWSConfig it loads the
// SDK's default configuration (config.LoadDefaultConfig). Inside Lambda
// (AWS_LAMBDA_FUNCTION_NAME set) every call is traced with X-Ray; elsewhere not,
// so local runs log no "segment not found". Clients, one per region, are created
// on first use.
func New(ctx context.Context, cfg Config, id cloud.InstanceSetID, opts ...Option) (*InstanceSet, error) {
	if id == "" {
		return nil, errors.New("ec2: empty instance set id")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var s settings
	for _, o := range opts {
		o(&s)
	}
	var awsCfg aws.Config
	if s.awsCfg != nil {
		awsCfg = *s.awsCfg
	} else {
		loaded, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2: load aws config: %w", err)
		}
		awsCfg = loaded
	}
	// Never append to the caller's slice.
	awsCfg.APIOptions = append([]func(*middleware.Stack) error(nil), awsCfg.APIOptions...)
	instrument(&awsCfg)
	if cfg.PageSize == 0 {
		cfg.PageSize = cloud.MaxDescribePageSize
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	regions := make(map[string]bool, len(cfg.Regions))
	for _, r := range cfg.Regions {
		regions[r] = true
	}
	return &InstanceSet{
		id:      id,
		cfg:     cfg,
		awsCfg:  awsCfg,
		regions: regions,
		log:     s.log.With("cloud", Alias, "instanceSet", string(id)),
		clients: map[string]api{},
	}, nil
}

// instrument adds X-Ray tracing to every call when running inside Lambda.
func instrument(cfg *aws.Config) {
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	}
}

// ID returns the set's id.
func (s *InstanceSet) ID() cloud.InstanceSetID { return s.id }

// client returns the region's client, creating it on first use; a region outside
// the configuration is a ConfigError.
func (s *InstanceSet) client(region string) (api, error) {
	if !s.regions[region] {
		return nil, regionError(region, s.cfg.Regions)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[region]; ok {
		return c, nil
	}
	c := ec2.NewFromConfig(s.awsCfg, func(o *ec2.Options) {
		o.Region = region
		if s.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.cfg.Endpoint)
		}
		o.Retryer = newRetryer(s.cfg.MaxAttempts)
		if s.cfg.MaxAttempts > 0 {
			o.RetryMaxAttempts = s.cfg.MaxAttempts
		}
	})
	s.clients[region] = c
	return c, nil
}

// QuotaGroup returns cloud.QuotaGroup(instanceType).
func (s *InstanceSet) QuotaGroup(instanceType string) string { return cloud.QuotaGroup(instanceType) }

// OnDemandPrice returns the approximate Linux on-demand price from the driver's
// embedded table (see ApproxOnDemandPrice).
func (s *InstanceSet) OnDemandPrice(region, instanceType string) (float64, bool) {
	return ApproxOnDemandPrice(region, instanceType)
}
