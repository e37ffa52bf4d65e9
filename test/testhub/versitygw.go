package testhub

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Versitygw is a real S3 server (github.com/versity/versitygw, pinned in
// go.mod as a tool) serving a temporary directory with its posix backend:
// bucket B's object K is the file Dir/B/K.
type Versitygw struct {
	Endpoint  string // http://127.0.0.1:port
	Region    string
	AccessKey string
	SecretKey string
	Dir       string // the posix backend's root
	Client    *s3.Client
}

// StartVersitygw builds and starts versitygw on a free loopback port; it
// is stopped when the test ends.
func StartVersitygw(t testing.TB) *Versitygw {
	t.Helper()
	bin := Build(t, "github.com/versity/versitygw/cmd/versitygw")
	addr := freeAddr(t)
	v := &Versitygw{Endpoint: "http://" + addr, Region: "us-east-1", AccessKey: "hubtest", SecretKey: "hubtestsecret", Dir: t.TempDir()}
	cmd := exec.Command(bin, "--port", addr, "--access", v.AccessKey, "--secret", v.SecretKey,
		"--region", v.Region, "--quiet", "posix", v.Dir)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	v.Client = s3.New(s3.Options{
		BaseEndpoint: aws.String(v.Endpoint),
		Region:       v.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(v.AccessKey, v.SecretKey, ""),
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(v.Endpoint)
		if err == nil {
			resp.Body.Close() // any answer (403 for an unsigned request) means it serves
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not answer on %s within 30s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CreateBucket creates the bucket name through the S3 API.
func (v *Versitygw) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := v.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// BlocksURL is hubd's --blocks value for the objects under prefix in
// bucket.
func (v *Versitygw) BlocksURL(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "?endpoint=" + v.Endpoint + "&region=" + v.Region + "&path-style=true"
}

// Env is the standard AWS environment that gives a process the server's
// credentials.
func (v *Versitygw) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + v.AccessKey, "AWS_SECRET_ACCESS_KEY=" + v.SecretKey,
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull}
}

// SetEnv sets Env in the test process, for a hubd started in it (the
// test cannot be parallel).
func (v *Versitygw) SetEnv(t testing.TB) {
	for _, kv := range v.Env() {
		k, val, _ := strings.Cut(kv, "=")
		t.Setenv(k, val)
	}
}

// ObjectPath is the file holding object key of bucket.
func (v *Versitygw) ObjectPath(bucket, key string) string {
	return filepath.Join(v.Dir, bucket, filepath.FromSlash(key))
}
