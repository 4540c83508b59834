"""S3 operations the project, the SDK and the AWS CLI use, checked against botocore's S3 model."""

import base64
import hashlib

import pytest

MiB = 1024 * 1024
BUCKET = "conformance-s3"


@pytest.fixture(scope="module", autouse=True)
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    yield


def test_objects_and_metadata(s3):
    s3.put_object(Bucket=BUCKET, Key="a/b.json", Body=b"{}", ContentType="application/json", Metadata={"k": "v"}, CacheControl="no-cache")
    head = s3.head_object(Bucket=BUCKET, Key="a/b.json")
    assert head["ContentType"] == "application/json" and head["Metadata"] == {"k": "v"} and head["CacheControl"] == "no-cache"
    assert s3.get_object(Bucket=BUCKET, Key="a/b.json")["Body"].read() == b"{}"
    assert s3.get_object(Bucket=BUCKET, Key="a/b.json", Range="bytes=0-0")["Body"].read() == b"{"
    s3.copy_object(Bucket=BUCKET, Key="a/c.json", CopySource={"Bucket": BUCKET, "Key": "a/b.json"})
    assert s3.head_object(Bucket=BUCKET, Key="a/c.json")["Metadata"] == {"k": "v"}
    s3.delete_object(Bucket=BUCKET, Key="a/c.json")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "a/c.json"}, {"Key": "missing"}]})


def test_checksums_round_trip(s3):
    # CRC32C needs botocore[crt], not in the venv: the SDK v3 test (test/local/emulator/s3.test.ts) covers it.
    for algorithm in ["CRC32", "SHA1", "SHA256"]:
        key = f"sum/{algorithm}"
        put = s3.put_object(Bucket=BUCKET, Key=key, Body=b"checksummed" * 100, ChecksumAlgorithm=algorithm)
        assert f"Checksum{algorithm}" in put
        got = s3.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        # botocore verifies the returned checksum against the body it reads.
        assert got["Body"].read() == b"checksummed" * 100
        assert got[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]


def test_listings(s3):
    for key in ["l/x", "l/x/y", "l/k/", "l//z"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    v2 = s3.list_objects_v2(Bucket=BUCKET, Prefix="l/", Delimiter="/")
    assert [c["Key"] for c in v2["Contents"]] == ["l/x"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["l//", "l/k/", "l/x/"]
    every = s3.list_objects_v2(Bucket=BUCKET, Prefix="l/", FetchOwner=True, MaxKeys=2)
    assert every["IsTruncated"] and every["KeyCount"] == 2
    rest = s3.list_objects_v2(Bucket=BUCKET, Prefix="l/", ContinuationToken=every["NextContinuationToken"])
    assert [c["Key"] for c in every["Contents"] + rest["Contents"]] == ["l//z", "l/k/", "l/x", "l/x/y"]
    v1 = s3.list_objects(Bucket=BUCKET, Prefix="l/", EncodingType="url")
    assert len(v1["Contents"]) == 4
    assert any(b["Name"] == BUCKET for b in s3.list_buckets()["Buckets"])
    s3.head_bucket(Bucket=BUCKET)
    s3.get_bucket_location(Bucket=BUCKET)


def test_multipart_with_copy(s3):
    s3.put_object(Bucket=BUCKET, Key="mp/source", Body=b"s" * (6 * MiB))
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp/target", ContentType="text/plain")
    part1 = s3.upload_part_copy(Bucket=BUCKET, Key="mp/target", UploadId=upload["UploadId"], PartNumber=1,
                                CopySource={"Bucket": BUCKET, "Key": "mp/source"}, CopySourceRange=f"bytes=0-{5 * MiB}")
    part2 = s3.upload_part(Bucket=BUCKET, Key="mp/target", UploadId=upload["UploadId"], PartNumber=2, Body=b"tail")
    listed = s3.list_parts(Bucket=BUCKET, Key="mp/target", UploadId=upload["UploadId"])
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    uploads = s3.list_multipart_uploads(Bucket=BUCKET)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload["UploadId"]]
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mp/target", UploadId=upload["UploadId"], MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": part2["ETag"]}]})
    head = s3.head_object(Bucket=BUCKET, Key="mp/target")
    assert head["ContentLength"] == 5 * MiB + 1 + 4 and head["ContentType"] == "text/plain"
    aborted = s3.create_multipart_upload(Bucket=BUCKET, Key="mp/aborted")
    s3.abort_multipart_upload(Bucket=BUCKET, Key="mp/aborted", UploadId=aborted["UploadId"])


def test_documented_errors(s3, expect_error):
    s3.put_object(Bucket=BUCKET, Key="e/obj", Body=b"v1")
    etag = s3.head_object(Bucket=BUCKET, Key="e/obj")["ETag"]
    with expect_error("NoSuchKey", 404):
        s3.get_object(Bucket=BUCKET, Key="e/missing")
    with expect_error("NoSuchBucket", 404):
        s3.list_objects_v2(Bucket="conformance-missing")
    with expect_error("404", 404):
        s3.head_object(Bucket=BUCKET, Key="e/missing")
    with expect_error("PreconditionFailed", 412):
        s3.get_object(Bucket=BUCKET, Key="e/obj", IfMatch='"0"')
    with expect_error("PreconditionFailed", 412):
        s3.put_object(Bucket=BUCKET, Key="e/obj", Body=b"v2", IfNoneMatch="*")
    with expect_error("304", 304):
        s3.get_object(Bucket=BUCKET, Key="e/obj", IfNoneMatch=etag)
    with expect_error("BadDigest", 400):
        s3.put_object(Bucket=BUCKET, Key="e/md5", Body=b"abc", ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode())
    with expect_error("PreconditionFailed", 412):
        s3.copy_object(Bucket=BUCKET, Key="e/copy", CopySource={"Bucket": BUCKET, "Key": "e/obj"}, CopySourceIfMatch='"0"')
    with expect_error("InvalidRequest", 400):
        s3.copy_object(Bucket=BUCKET, Key="e/obj", CopySource={"Bucket": BUCKET, "Key": "e/obj"})
    with expect_error("InvalidRange", 416):
        s3.get_object(Bucket=BUCKET, Key="e/obj", Range="bytes=10-20")
    with expect_error("KeyTooLongError", 400):
        s3.put_object(Bucket=BUCKET, Key="k" * 1025, Body=b"")
    with expect_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=BUCKET)
    with expect_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=BUCKET, Key="e/obj", UploadId="nope", PartNumber=1, Body=b"")
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="e/mp")["UploadId"]
    small = s3.upload_part(Bucket=BUCKET, Key="e/mp", UploadId=upload, PartNumber=1, Body=b"small")["ETag"]
    last = s3.upload_part(Bucket=BUCKET, Key="e/mp", UploadId=upload, PartNumber=2, Body=b"last")["ETag"]
    with expect_error("EntityTooSmall", 400):
        s3.complete_multipart_upload(Bucket=BUCKET, Key="e/mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]})
    with expect_error("InvalidPart", 400):
        s3.complete_multipart_upload(Bucket=BUCKET, Key="e/mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": small}]})
    with expect_error("InvalidPartOrder", 400):
        s3.complete_multipart_upload(Bucket=BUCKET, Key="e/mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}]})
    with expect_error("InvalidArgument", 400):
        s3.upload_part_copy(Bucket=BUCKET, Key="e/mp", UploadId=upload, PartNumber=3, CopySource=f"{BUCKET}/e/obj", CopySourceRange="bytes=0-99")


@pytest.mark.parametrize("call", [
    lambda s3: s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}),
    lambda s3: s3.get_bucket_tagging(Bucket=BUCKET),
    lambda s3: s3.get_bucket_policy(Bucket=BUCKET),
    lambda s3: s3.get_bucket_acl(Bucket=BUCKET),
    lambda s3: s3.get_bucket_lifecycle_configuration(Bucket=BUCKET),
    lambda s3: s3.get_bucket_encryption(Bucket=BUCKET),
    lambda s3: s3.list_object_versions(Bucket=BUCKET),
    lambda s3: s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}),
    lambda s3: s3.get_object_tagging(Bucket=BUCKET, Key="a/b.json"),
    lambda s3: s3.get_object_acl(Bucket=BUCKET, Key="a/b.json"),
    lambda s3: s3.get_object_attributes(Bucket=BUCKET, Key="a/b.json", ObjectAttributes=["ETag"]),
], ids=["PutBucketVersioning", "GetBucketTagging", "GetBucketPolicy", "GetBucketAcl", "GetBucketLifecycleConfiguration",
        "GetBucketEncryption", "ListObjectVersions", "PutBucketTagging", "GetObjectTagging", "GetObjectAcl", "GetObjectAttributes"])
def test_unimplemented_sub_resources_answer_not_implemented(s3, expect_error, call):
    with expect_error("NotImplemented", 501):
        call(s3)


def test_versioning_of_a_bucket_that_never_had_it(s3):
    versioning = s3.get_bucket_versioning(Bucket=BUCKET)
    assert versioning["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in versioning and "MFADelete" not in versioning
