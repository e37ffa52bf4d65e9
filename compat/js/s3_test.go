package compat

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
)

// The objects between S3 and JavaScript; not ASCII, so an encoding slip
// shows.
const (
	s3ToJSKey  = "from/s3.txt"
	s3ToJSBody = "from S3 to JS: grüße ✓"
	jsToS3Key  = "from/js.txt"
	jsToS3Body = "from JS to S3: grüße ✓"
	s3Bucket   = "s3-and-js"
)

// goS3 is a developer of its own (the threads tests list their account's
// DBs) whose account key signs S3 requests made with the AWS SDK for Go.
type goS3 struct{ c *awss3.Client }

// goS3 makes a bucket through S3, puts an object in it, and gives the
// JavaScript tests (s3.test.mjs) the same account key:
//
//	HUB_S3_KEY, HUB_S3_SECRET   the account key S3 signs with
//	HUB_S3_BUCKET               the bucket's name
//	HUB_S3_TO_JS_KEY, HUB_S3_TO_JS_BODY
//	                            the object S3 put, and its contents
//	HUB_JS_TO_S3_KEY, HUB_JS_TO_S3_BODY
//	                            what JavaScript is to push, for S3 to read
func (f *Fixture) goS3(t *testing.T) *goS3 {
	t.Helper()
	hc := hubclient.New(f.Hub.Conn)
	sess, err := hc.Signup(t.Context(), "jss3", "jss3@example.com")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	key, err := hc.CreateKey(client.WithSession(t.Context(), sess.ID), hub.AccountKey, true)
	if err != nil {
		t.Fatal(err)
	}
	c := awss3.New(awss3.Options{BaseEndpoint: aws.String("http://" + f.Hub.Addrs.S3), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key.Key, key.Secret, "")})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(s3Bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(s3ToJSKey),
		Body: bytes.NewReader([]byte(s3ToJSBody))}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	f.Env = append(f.Env,
		"HUB_S3_KEY="+key.Key,
		"HUB_S3_SECRET="+key.Secret,
		"HUB_S3_BUCKET="+s3Bucket,
		"HUB_S3_TO_JS_KEY="+s3ToJSKey,
		"HUB_S3_TO_JS_BODY="+s3ToJSBody,
		"HUB_JS_TO_S3_KEY="+jsToS3Key,
		"HUB_JS_TO_S3_BODY="+jsToS3Body,
	)
	return &goS3{c: c}
}

// checkFromJS reads through S3 the file JavaScript pushed.
func (s *goS3) checkFromJS(t *testing.T) {
	t.Helper()
	out, err := s.c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(s3Bucket), Key: aws.String(jsToS3Key)})
	if err != nil {
		t.Fatalf("GetObject of the file JavaScript pushed: %v", err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != jsToS3Body {
		t.Errorf("the file JavaScript pushed reads through S3 as %q, want %q", b, jsToS3Body)
	}
}
