using System.Text.Json;
using NUnit.Framework;
using Rose.Cli;

namespace Rose.Tests.Cli;

[TestFixture, NonParallelizable]
public class CliTests
{
    private static (int Code, string Out) Run(params string[] args)
    {
        var writer = new StringWriter();
        int code = Program.Run(args, writer);
        return (code, writer.ToString());
    }

    [Test]
    public void EvalJsonLastLineCarriesTheFigures()
    {
        var (code, output) = Run("eval", "--seqlen", "128", "--max-windows", "4", "--json");
        Assert.That(code, Is.EqualTo(0), output);
        var last = output.TrimEnd().Split('\n')[^1];
        using var json = JsonDocument.Parse(last);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("windows").GetInt32(), Is.EqualTo(4));
            Assert.That(json.RootElement.GetProperty("seqlen").GetInt32(), Is.EqualTo(128));
            Assert.That(json.RootElement.GetProperty("perplexity").GetDouble(), Is.GreaterThan(1));
            Assert.That(json.RootElement.GetProperty("tokens").GetInt32(), Is.EqualTo(98_593));
            Assert.That(json.RootElement.TryGetProperty("seconds", out _));
        });
    }

    [Test]
    public void BadInputExitsWithOne()
    {
        Assert.That(Run("eval", "--model", "/nonexistent/model", "--text", "x.txt").Code, Is.EqualTo(1));
        Assert.That(Run("eval", "--no-such-option").Code, Is.EqualTo(1));
        Assert.That(Run("no-such-command").Code, Is.EqualTo(1));
        Assert.That(Run("import-llama2c", "--checkpoint", "/nonexistent.bin", "--tokenizer", "t", "--out", "o").Code, Is.EqualTo(1));
    }

    [Test]
    public void HelpWorksForEveryCommand()
    {
        foreach (var command in new[] { "eval", "import-llama2c" })
            Assert.That(Run(command, "--help").Code, Is.EqualTo(0), command);
    }
}
