package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"math/big"
	"strings"
	"testing"
	"time"
)

func selfSigned(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func sign(t testing.TB, key *rsa.PrivateKey, doc string) string {
	sum := sha256.Sum256([]byte(doc))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

const doc = `{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "us-west-2b",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "ami-5fb8c835",
  "instanceId" : "i-1234567890abcdef0",
  "instanceType" : "t2.micro",
  "kernelId" : null,
  "pendingTime" : "2016-11-19T16:32:11Z",
  "privateIp" : "10.158.112.84",
  "ramdiskId" : null,
  "region" : "us-west-2",
  "version" : "2017-09-30"
}`

func TestEmbeddedCertificatesAreRSA(t *testing.T) {
	files, _ := fs.Glob(certFiles, "certs/*.pem")
	if len(files) != 7 {
		t.Fatalf("%d embedded certificates, want 7", len(files))
	}
	for _, f := range files {
		if _, err := embeddedKey(strings.TrimPrefix(f, "certs/")); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	v := NewAWSVerifier()
	if len(v.keys) != len(awsRegions) || v.dflt == nil {
		t.Errorf("verifier has %d region keys and default %v", len(v.keys), v.dflt != nil)
	}
}

func TestVerify(t *testing.T) {
	key, cert := selfSigned(t)
	other, otherCert := selfSigned(t)
	v := NewAWSVerifier()
	if err := v.Trust("us-west-2", cert); err != nil {
		t.Fatal(err)
	}
	if err := v.Trust("eu-west-1", otherCert); err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify([]byte(doc), sign(t, key, doc))
	if err != nil {
		t.Fatal(err)
	}
	if got.InstanceID != "i-1234567890abcdef0" || got.Region != "us-west-2" || got.AccountID != "123456789012" ||
		got.AvailabilityZone != "us-west-2b" || got.ImageID != "ami-5fb8c835" || got.PrivateIP != "10.158.112.84" ||
		!got.PendingTime.Equal(time.Date(2016, 11, 19, 16, 32, 11, 0, time.UTC)) {
		t.Errorf("document %+v", got)
	}
	bad := []struct {
		name, doc, sig string
	}{
		{"tampered document", strings.Replace(doc, "i-1234567890abcdef0", "i-0000000000000000f", 1), sign(t, key, doc)},
		{"signed by another region's key", doc, sign(t, other, doc)},
		{"whitespace changed", doc + " ", sign(t, key, doc)},
		{"garbage signature", doc, "!!!"},
		{"empty signature", doc, ""},
		{"unknown region form", strings.Replace(doc, `"us-west-2",`, `"nowhere",`, 1), sign(t, key, strings.Replace(doc, `"us-west-2",`, `"nowhere",`, 1))},
		{"not JSON", "not json", sign(t, key, "not json")},
		{"oversized", strings.Repeat(" ", MaxDocument+1), "AAAA"},
		{"default AWS key refuses our own", strings.Replace(doc, "us-west-2\"", "us-east-1\"", 1), sign(t, key, strings.Replace(doc, "us-west-2\"", "us-east-1\"", 1))},
	}
	for _, b := range bad {
		if _, err := v.Verify([]byte(b.doc), b.sig); err == nil {
			t.Errorf("%s: verified", b.name)
		}
	}
	// Trust("*") replaces every region's key.
	if err := v.Trust("*", cert); err != nil {
		t.Fatal(err)
	}
	d2 := strings.Replace(doc, "us-west-2\"", "ap-east-1\"", 1)
	if _, err := v.Verify([]byte(d2), sign(t, key, d2)); err != nil {
		t.Errorf("after Trust(*): %v", err)
	}
	if err := v.Trust("Not a region", cert); err == nil {
		t.Error("Trust accepted a bad region name")
	}
	if err := v.Trust("us-east-1", []byte("junk")); err == nil {
		t.Error("Trust accepted a non-certificate")
	}
}

func TestStaticSecrets(t *testing.T) {
	s := "bR5MlHPzQ7S3KFq0yWZk2gXwDlc8dO4kTqJ1nAvE9Ppu"
	if !ValidStaticSecret(s) || ValidStaticSecret(s[1:]) || ValidStaticSecret(s[:43]+"!") {
		t.Error("ValidStaticSecret")
	}
	h := HashStaticSecret(s)
	if !StaticSecretMatches(h, s) || StaticSecretMatches(h, s[:43]+"x") || StaticSecretMatches(nil, s) {
		t.Error("StaticSecretMatches")
	}
}

func BenchmarkVerify(b *testing.B) {
	key, cert := selfSigned(b)
	v := NewAWSVerifier()
	_ = v.Trust("us-west-2", cert)
	sig := sign(b, key, doc)
	b.ReportAllocs()
	for range b.N {
		if _, err := v.Verify([]byte(doc), sig); err != nil {
			b.Fatal(err)
		}
	}
}
