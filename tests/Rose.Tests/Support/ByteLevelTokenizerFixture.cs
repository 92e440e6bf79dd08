using NUnit.Framework;
using Rose.Tokenization;

namespace Rose.Tests.Support;

public static class ByteLevelTokenizerFixture
{
    public static void Write(string modelDir) => ByteLevelTokenizerJson.Write(modelDir);
}

[TestFixture]
public class ByteLevelTokenizerJsonTests
{
    [Test]
    public void EncodesBytesWithBosAndRoundTrips()
    {
        var dir = TinyModelFactory.TempDir("bytetok");
        try
        {
            ByteLevelTokenizerJson.Write(dir);
            var tok = TokenizerLoader.Load(dir);
            var ids = tok.Encode("hé!", addBos: true);
            Assert.That(ids, Is.EqualTo(new[] { 256, (int)'h', 0xC3, 0xA9, (int)'!' }));
            Assert.That(tok.Encode("hé!", addBos: false), Is.EqualTo(ids[1..]));
            Assert.That(tok.Decode(ids), Is.EqualTo("hé!"));
        }
        finally { Directory.Delete(dir, true); }
    }
}
