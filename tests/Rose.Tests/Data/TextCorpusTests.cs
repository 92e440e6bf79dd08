using NUnit.Framework;
using System.IO.Compression;
using System.Text;
using Parquet;
using Parquet.Schema;
using Rose.Data;

namespace Rose.Tests.Data;

[TestFixture]
public class TextCorpusTests
{
    private string _dir = "";

    [SetUp]
    public void CreateTempDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "rose-corpus-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void DeleteTempDir() => Directory.Delete(_dir, recursive: true);

    private string WriteText(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content, new UTF8Encoding(false));
        return path;
    }

    private string WriteGzip(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write(Encoding.UTF8.GetBytes(content));
        return path;
    }

    private string WriteParquet(string name, params (DataField Field, object Values)[][] rowGroups)
    {
        var path = Path.Combine(_dir, name);
        WriteAsync().GetAwaiter().GetResult();
        return path;

        async Task WriteAsync()
        {
            var schema = new ParquetSchema(rowGroups[0].Select(c => (Field)c.Field).ToArray());
            await using var file = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(schema, file);
            foreach (var columns in rowGroups)
            {
                using var group = writer.CreateRowGroup();
                foreach (var (field, values) in columns)
                {
                    switch (values)
                    {
                        case string[] s: await group.WriteAsync(field, s); break;
                        case int[] n: await group.WriteAsync<int>(field, n.AsMemory()); break;
                        default: throw new ArgumentException(values.GetType().Name);
                    }
                }
            }
        }
    }

    private static readonly string[] ThreeDocs =
    [
        "First document,\nwith two lines.",
        "Second \"quoted\" document — ünïcode ✓",
        "Third.",
    ];

    private static string JsonLines(IEnumerable<string> texts) =>
        string.Concat(texts.Select(t => System.Text.Json.JsonSerializer.Serialize(new { id = 7, text = t }) + "\n"));

    // ---- .txt ----

    [Test]
    public void Txt_SplitsOnBlankLinesAndKeepsInternalNewlines()
    {
        var path = WriteText("c.txt", "First document,\nwith two lines.\n\nSecond \"quoted\" document — ünïcode ✓\n\nThird.\n");
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }

    [Test]
    public void Txt_RunsOfBlankAndWhitespaceOnlyLinesAreOneSeparator()
    {
        var path = WriteText("c.txt", "\n\n  \nA1\nA2\n\n\n \t \n\nB\n   \nC  \n\n\n");
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(new[] { "A1\nA2", "B", "C  " }));
    }

    [Test]
    public void Txt_CrLfAndMissingFinalNewline()
    {
        var path = WriteText("c.txt", "A1\r\nA2\r\n\r\nB");
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(new[] { "A1\nA2", "B" }));
    }

    [Test]
    public void Txt_KeepsLeadingIndentationOfLines()
    {
        var path = WriteText("c.txt", "  indented\n\tline\n");
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(new[] { "  indented\n\tline" }));
    }

    [Test]
    public void Txt_OnlyBlankLines_IsEmptyCorpusError()
    {
        var path = WriteText("blank.txt", "\n  \n\t\n");
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("empty"));
        Assert.Throws<RoseException>(() => TextCorpus.LoadWholeText(path));
    }

    [Test]
    public void Txt_WholeTextIsVerbatim()
    {
        const string content = "  A1\nA2\n\n\nB \n";
        var path = WriteText("c.txt", content);
        Assert.That(TextCorpus.LoadWholeText(path), Is.EqualTo(content));
    }

    [Test]
    public void Txt_GzipDetectedByMagicBytes()
    {
        var path = WriteGzip("c.txt", "A\n\nB\n");
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(new[] { "A", "B" }));
    }

    // ---- JSON ----

    [Test]
    public void Jsonl_ReadsTextFieldPerRecordSkippingBlankLines()
    {
        var path = WriteText("c.jsonl", "\n" + JsonLines(ThreeDocs).Replace("}\n{", "}\n\n{"));
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }

    [Test]
    public void JsonlGz_ReadsGzip()
    {
        var path = WriteGzip("c.jsonl.gz", JsonLines(ThreeDocs));
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }

    [Test]
    public void Jsonl_GzipWithoutGzExtension_DetectedByMagicBytes()
    {
        var path = WriteGzip("c.jsonl", JsonLines(ThreeDocs));
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }

    [Test]
    public void Json_LinesInJsonExtension()
    {
        var path = WriteText("c.json", JsonLines(ThreeDocs));
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }

    [Test]
    public void Json_SingleArrayOfObjects()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(ThreeDocs.Select(t => new { text = t, meta = new { n = 1 } }),
            new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        var path = WriteText("c.json", json);
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }

    [Test]
    public void JsonGz_SingleArray()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(ThreeDocs.Select(t => new { text = t }));
        var path = WriteGzip("c.json.gz", json);
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }

    [Test]
    public void Jsonl_WholeTextJoinsDocumentsWithBlankLine()
    {
        var path = WriteText("c.jsonl", JsonLines(ThreeDocs));
        Assert.That(TextCorpus.LoadWholeText(path), Is.EqualTo(string.Join("\n\n", ThreeDocs)));
    }

    [Test]
    public void Jsonl_MissingTextField_NamesFileAndLine()
    {
        // Line 1 is blank so the physical line (4), not the record index (3), must be reported.
        var path = WriteText("bad.jsonl", "\n{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"content\":\"c\"}\n");
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("line 4").And.Contain("no \"text\" field"));
    }

    [Test]
    public void Jsonl_NonStringText_NamesLineAndKind()
    {
        var path = WriteText("bad.jsonl", "{\"text\":\"a\"}\n{\"text\":42}\n");
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("line 2").And.Contain("a number").And.Contain("expected a string"));
    }

    [Test]
    public void Jsonl_NullTextAndNonObjectRecord_AreErrors()
    {
        var nullText = WriteText("null.jsonl", "{\"text\":null}\n");
        Assert.That(Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(nullText))!.Message,
            Does.Contain("line 1").And.Contain("null"));
        var notObject = WriteText("str.jsonl", "{\"text\":\"ok\"}\n\"just a string\"\n");
        Assert.That(Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(notObject))!.Message,
            Does.Contain("line 2").And.Contain("expected a JSON object"));
    }

    [Test]
    public void Jsonl_InvalidJson_NamesLine()
    {
        var path = WriteText("bad.jsonl", "{\"text\":\"a\"}\n{\"text\": \"unterminated}\n");
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("line 2").And.Contain("invalid JSON"));
        Assert.That(e.Message, Does.Not.Contain("\n"));
    }

    [Test]
    public void JsonArray_MissingTextField_NamesLineOfElement()
    {
        var path = WriteText("bad.json", "[\n  {\"text\": \"a\"},\n  {\"text\": \"b\"},\n  {\"body\": \"c\"}\n]\n");
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("line 4").And.Contain("array element 2").And.Contain("no \"text\" field"));
    }

    [Test]
    public void Jsonl_NoRecords_IsEmptyCorpusError()
    {
        var path = WriteText("empty.jsonl", "\n\n");
        Assert.That(Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!.Message,
            Does.Contain(path).And.Contain("empty"));
    }

    [Test]
    public void GzExtensionOnPlainFile_IsError()
    {
        var path = WriteText("c.jsonl.gz", JsonLines(ThreeDocs));
        Assert.That(Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!.Message,
            Does.Contain(path).And.Contain("not gzip"));
    }

    // ---- Parquet ----

    [Test]
    public void Parquet_ReadsTextColumnAcrossRowGroups()
    {
        var id = new DataField<int>("id");
        var text = new DataField<string>("text");
        var path = WriteParquet("c.parquet",
            [(id, new[] { 1, 2 }), (text, new[] { ThreeDocs[0], ThreeDocs[1] })],
            [(id, new[] { 3 }), (text, new[] { ThreeDocs[2] })]);
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
        Assert.That(TextCorpus.LoadWholeText(path), Is.EqualTo(string.Join("\n\n", ThreeDocs)));
    }

    /// <summary>WikiText-2 as the papers evaluate it: "\n\n".join(test["text"]) over the raw split, whose empty rows
    /// are part of the join (they make its runs of blank lines).</summary>
    [Test]
    public void Parquet_WholeTextIsThePapersJoinEmptyRowsIncluded()
    {
        string[] rows = ["", " = Robert Boulter = \n", "", " Robert Boulter is an English actor .\n", ""];
        var path = WriteParquet("wikitext.parquet", [(new DataField<string>("text"), rows)]);
        Assert.That(TextCorpus.LoadWholeText(path), Is.EqualTo("\n\n = Robert Boulter = \n\n\n\n\n Robert Boulter is an English actor .\n\n\n"));
    }

    [Test]
    public void Parquet_NoTextColumn_ListsColumnsFound()
    {
        var path = WriteParquet("c.parquet",
            [(new DataField<int>("id"), new[] { 1 }), (new DataField<string>("content"), new[] { "x" })]);
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("no \"text\" column").And.Contain("id, content"));
    }

    [Test]
    public void Parquet_NonStringTextColumn_IsError()
    {
        var path = WriteParquet("c.parquet", [(new DataField<int>("text"), new[] { 1, 2 })]);
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("expected strings"));
    }

    [Test]
    public void Parquet_NullText_NamesRowAcrossRowGroups()
    {
        var text = new DataField<string>("text");
        var path = WriteParquet("c.parquet", [(text, new[] { "a", "b" })], [(text, new[] { "c", null! })]);
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("row 3").And.Contain("null"));
    }

    [Test]
    public void Parquet_NotAParquetFile_IsError()
    {
        var path = WriteText("fake.parquet", "this is not parquet at all");
        Assert.That(Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!.Message, Does.Contain(path));
    }

    // ---- dispatch ----

    [Test]
    public void UnknownExtension_NamesFileAndSupportedKinds()
    {
        var path = WriteText("corpus.csv", "text\nhello\n");
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain(".txt").And.Contain(".jsonl.gz").And.Contain(".parquet"));
        Assert.Throws<RoseException>(() => TextCorpus.LoadWholeText(path));
    }

    [Test]
    public void MissingFile_NamesPath()
    {
        var path = Path.Combine(_dir, "nope.jsonl");
        var e = Assert.Throws<RoseException>(() => TextCorpus.LoadDocuments(path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("not found"));
        Assert.That(Assert.Throws<RoseException>(() => TextCorpus.LoadWholeText(path))!.Message, Does.Contain(path));
    }

    [Test]
    public void ExtensionsAreCaseInsensitive()
    {
        var path = WriteText("C.JSONL", JsonLines(ThreeDocs));
        Assert.That(TextCorpus.LoadDocuments(path), Is.EqualTo(ThreeDocs));
    }
}
