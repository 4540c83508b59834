"""Glue operations the project and the emulator's crawler serve, checked against botocore's Glue model."""

import time

import pytest

DB = "conformance_db"


@pytest.fixture(scope="module", autouse=True)
def catalog(glue, s3):
    glue.create_database(DatabaseInput={"Name": DB})
    glue.create_table(DatabaseName=DB, TableInput={
        "Name": "events",
        "PartitionKeys": [{"Name": "dt", "Type": "string"}, {"Name": "hour", "Type": "int"}],
        "StorageDescriptor": {"Location": "s3://conformance-glue/events/", "Columns": [{"Name": "site", "Type": "string"}]},
    })
    for dt, hour in [("2026-11-26", "9"), ("2026-11-26", "10"), ("2026-11-27", "0")]:
        glue.create_partition(DatabaseName=DB, TableName="events", PartitionInput={
            "Values": [dt, hour], "StorageDescriptor": {"Location": f"s3://conformance-glue/events/dt={dt}/hour={hour}/"}})
    s3.create_bucket(Bucket="conformance-glue")
    s3.put_object(Bucket="conformance-glue", Key="crawled/dt=2026-11-27/part-0.json", Body=b'{"site":"shop","n":1}\n')
    yield


def test_catalog_reads(glue):
    assert glue.get_database(Name=DB)["Database"]["Name"] == DB
    assert any(d["Name"] == DB for d in glue.get_databases()["DatabaseList"])
    assert glue.get_table(DatabaseName=DB, Name="events")["Table"]["PartitionKeys"][1]["Type"] == "int"
    assert [t["Name"] for t in glue.get_tables(DatabaseName=DB)["TableList"]] == ["events"]
    assert glue.get_partition(DatabaseName=DB, TableName="events", PartitionValues=["2026-11-26", "9"])["Partition"]["Values"] == ["2026-11-26", "9"]
    batch = glue.batch_get_partition(DatabaseName=DB, TableName="events", PartitionsToGet=[{"Values": ["2026-11-27", "0"]}])
    assert len(batch["Partitions"]) == 1


@pytest.mark.parametrize("expression,count", [
    ("dt = '2026-11-26'", 2),
    ("hour > 9", 1),
    ("dt = '2026-11-26' AND (hour BETWEEN 0 AND 9 OR hour IN (10))", 2),
    ("NOT dt LIKE '2026-11-2_' OR hour IS NULL", 0),
    ("dt <> '2026-11-26' AND hour <= 0", 1),
])
def test_partition_expressions(glue, expression, count):
    assert len(glue.get_partitions(DatabaseName=DB, TableName="events", Expression=expression)["Partitions"]) == count


def test_paging(glue):
    first = glue.get_partitions(DatabaseName=DB, TableName="events", MaxResults=2)
    rest = glue.get_partitions(DatabaseName=DB, TableName="events", NextToken=first["NextToken"])
    assert len(first["Partitions"]) + len(rest["Partitions"]) == 3


def test_crawler(glue):
    glue.create_crawler(Name="conformance-crawler", Role="arn:aws:iam::000000000000:role/crawler", DatabaseName=DB,
                        Targets={"S3Targets": [{"Path": "s3://conformance-glue/crawled/"}]})
    glue.start_crawler(Name="conformance-crawler")
    deadline = time.time() + 20
    while True:
        crawler = glue.get_crawler(Name="conformance-crawler")["Crawler"]
        if crawler["State"] == "READY" and "LastCrawl" in crawler:
            break
        assert time.time() < deadline, crawler
        time.sleep(0.05)
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    assert glue.get_table(DatabaseName=DB, Name="crawled")["Table"]["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert "conformance-crawler" in [c["Name"] for c in glue.get_crawlers()["Crawlers"]]
    first = glue.get_crawlers(MaxResults=1)
    assert len(first["Crawlers"]) == 1
    if "NextToken" in first:
        assert glue.get_crawlers(NextToken=first["NextToken"], MaxResults=1000)["Crawlers"]


def test_delete_table(glue, expect_error):
    glue.create_table(DatabaseName=DB, TableInput={"Name": "scratch", "StorageDescriptor": {"Location": "s3://conformance-glue/scratch/"}})
    glue.delete_table(DatabaseName=DB, Name="scratch")
    with expect_error("EntityNotFoundException", 400):
        glue.get_table(DatabaseName=DB, Name="scratch")
    with expect_error("EntityNotFoundException", 400):
        glue.delete_table(DatabaseName=DB, Name="scratch")


def test_documented_errors(glue, expect_error):
    with expect_error("EntityNotFoundException", 400):
        glue.get_table(DatabaseName=DB, Name="missing")
    with expect_error("EntityNotFoundException", 400):
        glue.get_partition(DatabaseName=DB, TableName="events", PartitionValues=["1999-01-01", "0"])
    with expect_error("AlreadyExistsException", 400):
        glue.create_database(DatabaseInput={"Name": DB})
    with expect_error("InvalidInputException", 400):
        glue.get_partitions(DatabaseName=DB, TableName="events", Expression="dt = ")
    with expect_error("InvalidInputException", 400):
        glue.get_partitions(DatabaseName=DB, TableName="events", Expression="nope = 'x'")
    with expect_error("CrawlerNotRunningException", 400):
        glue.stop_crawler(Name="conformance-crawler")
    with expect_error("EntityNotFoundException", 400):
        glue.start_crawler(Name="missing-crawler")
    with expect_error("ValidationException", 400):
        glue.get_partitions(DatabaseName=DB, TableName="events", MaxResults=1001)
    with expect_error("ValidationException", 400):
        glue.get_crawlers(MaxResults=1001)
    with expect_error("UnknownOperationException", 400):
        glue.get_jobs()
