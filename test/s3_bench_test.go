package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/selfhub/hub/test/testhub"
)

// s3BenchSize is the file BenchmarkS3VsHubBuck moves; HUB_S3_BENCH_MIB
// sets another size, in MiB, for a quick run.
func s3BenchSize(b *testing.B) int64 {
	if v := os.Getenv("HUB_S3_BENCH_MIB"); v != "" {
		var mib int64
		if _, err := fmt.Sscan(v, &mib); err != nil || mib < 6 {
			b.Fatalf("HUB_S3_BENCH_MIB=%q: want a number of MiB, at least 6", v)
		}
		return mib << 20
	}
	return 1 << 30
}

// s3BenchPart is the part size of the benchmark's multipart uploads.
const s3BenchPart = 64 << 20

// BenchmarkS3VsHubBuck moves one file of random bytes (1 GiB) into and out
// of a child hubd twice in the same run: with the built hub CLI (`hub buck
// push` of a folder holding it, `hub buck pull` into an empty folder) and
// through S3 with the AWS SDK (a multipart PutObject of 64 MiB parts, 4 at
// a time, and a GetObject written to a file). Reported: each one's MB/s,
// and S3's throughput as a fraction of the CLI's (put-ratio, get-ratio;
// the goal is 0.9 or more). Run it alone: -run '^$' -bench S3VsHubBuck
// -benchtime 1x.
func BenchmarkS3VsHubBuck(b *testing.B) {
	size := s3BenchSize(b)
	h := startS3Hub(b)
	hubBin := testhub.Build(b, "./cmd/hub")
	ctx, c := context.Background(), h.aws
	src := filepath.Join(b.TempDir(), "data.bin")
	writeRandomFile(b, src, size)
	home := b.TempDir()
	buck := func(dir string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(hubBin, append([]string{"buck", "--dir", dir}, args...)...)
		cmd.Env = []string{"HUB_HOME=" + home, "HUB_API=" + h.p.Addrs.API, "HUB_SESSION=" + h.sess}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("hub buck %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return time.Since(start)
	}
	mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }
	for i := 0; i < b.N; i++ {
		// Native: a folder holding the file, pushed; then pulled into another.
		up := b.TempDir()
		if err := os.Link(src, filepath.Join(up, "data.bin")); err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("native%d", i)
		buck(up, "init", "--name", name)
		pushTime := buck(up, "push")
		_, _, key := h.hubBucket(b, name)
		down := b.TempDir()
		buck(down, "init", "--existing", key)
		pullTime := buck(down, "pull")
		if fi, err := os.Stat(filepath.Join(down, "data.bin")); err != nil || fi.Size() != size {
			b.Fatalf("hub buck pull: %v, %v", fi, err)
		}

		// S3: a multipart upload of the same file, 4 parts at a time, and
		// a GetObject into a file.
		bucket := fmt.Sprintf("s3bench%d", i)
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		s3PutParallel(b, c, bucket, "data.bin", src, size, 4)
		putTime := time.Since(start)
		start = time.Now()
		get, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("data.bin")})
		if err != nil {
			b.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(b.TempDir(), "got.bin"))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(dst, get.Body)
		get.Body.Close()
		if err == nil {
			err = dst.Close()
		}
		getTime := time.Since(start)
		if err != nil || n != size {
			b.Fatalf("GetObject: %d bytes, %v", n, err)
		}
		b.ReportMetric(mbps(pushTime), "buck-push-MB/s")
		b.ReportMetric(mbps(pullTime), "buck-pull-MB/s")
		b.ReportMetric(mbps(putTime), "s3-put-MB/s")
		b.ReportMetric(mbps(getTime), "s3-get-MB/s")
		b.ReportMetric(pushTime.Seconds()/putTime.Seconds(), "put-ratio")
		b.ReportMetric(pullTime.Seconds()/getTime.Seconds(), "get-ratio")
	}
}

// writeRandomFile writes size pseudo-random (incompressible, and never
// deduplicated) bytes to path.
func writeRandomFile(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	rng := mrand.NewChaCha8([32]byte{1, 2, 3})
	if _, err := io.Copy(f, io.LimitReader(rng, size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// s3PutParallel uploads the file at path as key in parts of s3BenchPart,
// workers parts at a time, as the SDKs' upload managers do.
func s3PutParallel(b *testing.B, c *awss3.Client, bucket, key, path string, size int64, workers int) {
	b.Helper()
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		b.Fatal(err)
	}
	parts := make([]types.CompletedPart, (size+s3BenchPart-1)/s3BenchPart)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(parts)) {
					return
				}
				off := i * s3BenchPart
				body := io.NewSectionReader(f, off, min(s3BenchPart, size-off))
				out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: body})
				if err != nil {
					errs <- fmt.Errorf("part %d: %w", i+1, err)
					return
				}
				parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		b.Fatal(err)
	}
}

// s3SmallObjects is how many 4 KiB objects BenchmarkS3SmallObjects puts
// and then gets, s3SmallClients at a time.
const (
	s3SmallObjects = 4000
	s3SmallClients = 32
)

// BenchmarkS3SmallObjects puts 4 KiB objects into one bucket with 32
// concurrent clients (the AWS SDK, one connection pool each), then gets
// them the same way, against a child hubd and against versitygw on a
// local directory (its posix backend), side by side. Reported: PUTs and
// GETs per second. Run it alone: -run '^$' -bench S3SmallObjects
// -benchtime 1x.
func BenchmarkS3SmallObjects(b *testing.B) {
	servers := []struct {
		name  string
		start func(b *testing.B) func() *awss3.Client
	}{
		{"hubd", func(b *testing.B) func() *awss3.Client {
			h := startS3Hub(b)
			return func() *awss3.Client { return awsClient(h.p.Addrs.S3, h.key.Key, h.key.Secret) }
		}},
		{"versitygw", func(b *testing.B) func() *awss3.Client {
			v := testhub.StartVersitygw(b)
			return func() *awss3.Client {
				return awsClient(strings.TrimPrefix(v.Endpoint, "http://"), v.AccessKey, v.SecretKey)
			}
		}},
	}
	body := bytes.Repeat([]byte("4 KiB object. "), 4096/14+1)[:4096]
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			newClient := srv.start(b)
			clients := make([]*awss3.Client, s3SmallClients)
			for i := range clients {
				clients[i] = newClient()
			}
			for i := 0; i < b.N; i++ {
				bucket := fmt.Sprintf("small%d", i)
				if _, err := clients[0].CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
					b.Fatal(err)
				}
				put := s3Concurrently(b, clients, func(c *awss3.Client, n int) error {
					_, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket),
						Key: aws.String(fmt.Sprintf("obj/%05d", n)), Body: bytes.NewReader(body)})
					return err
				})
				get := s3Concurrently(b, clients, func(c *awss3.Client, n int) error {
					out, err := c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("obj/%05d", n))})
					if err != nil {
						return err
					}
					defer out.Body.Close()
					got, err := io.ReadAll(out.Body)
					if err == nil && !bytes.Equal(got, body) {
						err = fmt.Errorf("object %d: %d bytes that differ from those put", n, len(got))
					}
					return err
				})
				b.ReportMetric(float64(s3SmallObjects)/put.Seconds(), "PUT/s")
				b.ReportMetric(float64(s3SmallObjects)/get.Seconds(), "GET/s")
			}
		})
	}
}

// s3Concurrently calls op for objects 0 to s3SmallObjects-1, each client
// taking the next in turn, and returns how long it took.
func s3Concurrently(b *testing.B, clients []*awss3.Client, op func(c *awss3.Client, n int) error) time.Duration {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			for {
				n := int(next.Add(1) - 1)
				if n >= s3SmallObjects || failed.Load() != nil {
					return
				}
				if err := op(c, n); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	return time.Since(start)
}
