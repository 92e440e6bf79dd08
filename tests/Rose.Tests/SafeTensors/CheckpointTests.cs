using NUnit.Framework;
using System.Runtime.InteropServices;
using System.Text.Json;
using Rose.SafeTensors;

namespace Rose.Tests.SafeTensors;

[TestFixture]
public class CheckpointTests
{
    private TempFolder _temp = null!;

    [SetUp] public void SetUp() => _temp = new TempFolder();
    [TearDown] public void TearDown() => _temp.Dispose();

    private static TensorSpec[] LayerSpecs() =>
    [
        new("model.embed_tokens.weight", DType.BF16, [32, 16]),
        new("model.layers.0.self_attn.q_proj.weight", DType.F16, [16, 16]),
        new("model.layers.0.self_attn.k_proj.weight", DType.F32, [8, 16]),
        new("model.layers.0.input_layernorm.weight", DType.F32, [16]),
        new("model.layers.0.mlp.up_proj.weight", DType.BF16, [40, 16]),
        new("model.layers.1.self_attn.q_proj.weight", DType.BF16, [16, 16]),
        new("model.norm.weight", DType.F32, [16]),
        new("lm_head.weight", DType.F16, [32, 16]),
        new("position_ids", DType.I64, [1, 7]),
    ];

    private static float[] ValuesFor(TensorSpec spec)
    {
        var rng = new Random(spec.Name.Length * 31 + (int)spec.NumElements);
        return Enumerable.Range(0, (int)spec.NumElements).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
    }

    private static float Stored(DType dtype, float v) => dtype switch
    {
        DType.F16 => (float)(Half)v,
        DType.BF16 => FloatConversion.BFloat16ToSingle(FloatConversion.SingleToBFloat16(v)),
        _ => v,
    };

    private static void WriteAll(CheckpointWriter writer, IEnumerable<TensorSpec> specs)
    {
        foreach (var spec in specs.Reverse())
        {
            if (spec.DType == DType.I64)
                writer.Write(spec.Name, MemoryMarshal.AsBytes<long>(Enumerable.Range(0, (int)spec.NumElements).Select(i => (long)i).ToArray()));
            else
                writer.WriteFloat32(spec.Name, ValuesFor(spec));
        }
        writer.Complete();
    }

    private static void AssertContents(Checkpoint checkpoint, IEnumerable<TensorSpec> specs)
    {
        foreach (var spec in specs)
        {
            var info = checkpoint.GetInfo(spec.Name);
            Assert.That(info.DType, Is.EqualTo(spec.DType), spec.Name);
            Assert.That(info.Shape, Is.EqualTo(spec.Shape), spec.Name);
            if (spec.DType == DType.I64)
            {
                Assert.That(checkpoint.FileFor(spec.Name).ReadInt64(spec.Name), Is.EqualTo(Enumerable.Range(0, (int)spec.NumElements).Select(i => (long)i)));
                continue;
            }
            var expected = ValuesFor(spec).Select(v => Stored(spec.DType, v)).ToArray();
            Assert.That(checkpoint.ReadFloat32(spec.Name), Is.EqualTo(expected), spec.Name);
            var span = new float[spec.NumElements];
            checkpoint.ReadFloat32(spec.Name, span);
            Assert.That(span, Is.EqualTo(expected), spec.Name);
            Assert.That(checkpoint.GetBytes(spec.Name).Length, Is.EqualTo(spec.ByteLength));
        }
    }

    [Test]
    public void ShardedRoundTrip()
    {
        var specs = LayerSpecs();
        var plan = CheckpointWriter.Plan(specs, maxShardBytes: 2048);
        Assert.That(plan.Count, Is.GreaterThan(2));
        Assert.That(plan.SelectMany(s => s.Tensors).Select(t => t.Name), Is.EqualTo(specs.Select(s => s.Name)), "filled in order");
        Assert.That(plan.Where(s => s.Tensors.Count > 1).Select(s => s.ByteLength), Is.All.LessThanOrEqualTo(2048));
        Assert.That(plan.Select(s => s.FileName), Is.EqualTo(Enumerable.Range(1, plan.Count).Select(i => $"model-{i:D5}-of-{plan.Count:D5}.safetensors")));

        var dir = Path.Combine(_temp.Path, "out");
        using (var writer = new CheckpointWriter(dir, plan))
            WriteAll(writer, specs);

        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, Checkpoint.IndexFileName)));
        Assert.That(index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64(), Is.EqualTo(specs.Sum(s => s.ByteLength)));
        var mapped = index.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Name).ToArray();
        Assert.That(mapped, Is.EqualTo(specs.Select(s => s.Name).Order(StringComparer.Ordinal)), "weight_map sorted by name");

        using var checkpoint = Checkpoint.Open(dir);
        Assert.That(checkpoint.IsSharded, Is.True);
        Assert.That(checkpoint.Directory, Is.EqualTo(Path.GetFullPath(dir)));
        Assert.That(checkpoint.ShardFiles, Is.EqualTo(plan.Select(s => s.FileName)));
        Assert.That(checkpoint.TensorNames, Is.EqualTo(specs.Select(s => s.Name)));
        foreach (var shard in plan)
            foreach (var t in shard.Tensors)
                Assert.That(checkpoint.ShardOf(t.Name), Is.EqualTo(shard.FileName));
        AssertContents(checkpoint, specs);
    }

    [Test]
    public void SmallCheckpointIsOneModelSafetensorsWithoutIndex()
    {
        var specs = LayerSpecs();
        var plan = CheckpointWriter.Plan(specs);
        Assert.That(plan.Single().FileName, Is.EqualTo("model.safetensors"));
        var dir = Path.Combine(_temp.Path, "single");
        using (var writer = new CheckpointWriter(dir, plan))
            WriteAll(writer, specs);
        Assert.That(File.Exists(Path.Combine(dir, Checkpoint.IndexFileName)), Is.False);

        using var checkpoint = Checkpoint.Open(dir);
        Assert.That(checkpoint.IsSharded, Is.False);
        Assert.That(checkpoint.ShardFiles, Is.EqualTo(new[] { "model.safetensors" }));
        Assert.That(checkpoint.TensorNames, Is.EqualTo(specs.Select(s => s.Name)));
        AssertContents(checkpoint, specs);
    }

    [Test]
    public void TensorLargerThanShardLimitGetsItsOwnShard()
    {
        TensorSpec[] specs = [new("a", DType.F32, [10]), new("big", DType.F32, [100]), new("c", DType.F32, [10])];
        var plan = CheckpointWriter.Plan(specs, maxShardBytes: 100);
        Assert.That(plan.Select(s => s.Tensors.Select(t => t.Name).ToArray()), Is.EqualTo(new[] { new[] { "a" }, new[] { "big" }, new[] { "c" } }));
    }

    [Test]
    public void PlanLikeReproducesShardNamesAndLayout()
    {
        var specs = LayerSpecs();
        var inputDir = Path.Combine(_temp.Path, "in");
        using (var writer = new CheckpointWriter(inputDir, CheckpointWriter.Plan(specs, maxShardBytes: 3000)))
            WriteAll(writer, specs);
        using var input = Checkpoint.Open(inputDir);

        // Same layout but every float tensor stored as BF16, as a pruning run might.
        var plan = CheckpointWriter.PlanLike(input, name =>
        {
            var info = input.GetInfo(name);
            return new TensorSpec(name, info.DType == DType.I64 ? DType.I64 : DType.BF16, info.Shape);
        });
        Assert.That(plan.Select(s => s.FileName), Is.EqualTo(input.ShardFiles));
        foreach (var shard in plan)
            Assert.That(shard.Tensors.Select(t => t.Name), Is.EqualTo(input.TensorNames.Where(n => input.ShardOf(n) == shard.FileName)));

        var outputDir = Path.Combine(_temp.Path, "out");
        var outSpecs = plan.SelectMany(s => s.Tensors).ToArray();
        using (var writer = new CheckpointWriter(outputDir, plan))
            WriteAll(writer, outSpecs);
        using var output = Checkpoint.Open(outputDir);
        Assert.That(output.ShardFiles, Is.EqualTo(input.ShardFiles));
        Assert.That(output.TensorNames, Is.EqualTo(input.TensorNames));
        foreach (var name in input.TensorNames)
            Assert.That(output.ShardOf(name), Is.EqualTo(input.ShardOf(name)));
        AssertContents(output, outSpecs);
    }

    [Test]
    public void IndexPointingToMissingShardIsRejected()
    {
        var specs = LayerSpecs();
        var dir = Path.Combine(_temp.Path, "broken");
        var plan = CheckpointWriter.Plan(specs, maxShardBytes: 2048);
        using (var writer = new CheckpointWriter(dir, plan))
            WriteAll(writer, specs);
        var lost = plan[1].FileName;
        File.Delete(Path.Combine(dir, lost));

        var e = Assert.Throws<RoseException>(() => Checkpoint.Open(dir).Dispose());
        Assert.That(e!.Message, Does.Contain(lost).And.Contain(Checkpoint.IndexFileName).And.Contain("does not exist"));
    }

    [Test]
    public void IndexMappingTensorToWrongShardIsRejected()
    {
        var dir = Path.Combine(_temp.Path, "wrong");
        TensorSpec[] specs = [new("a", DType.F32, [4]), new("b", DType.F32, [4])];
        using (var writer = new CheckpointWriter(dir, CheckpointWriter.Plan(specs, maxShardBytes: 16)))
            WriteAll(writer, specs);
        var indexPath = Path.Combine(dir, Checkpoint.IndexFileName);
        File.WriteAllText(indexPath, "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");

        var e = Assert.Throws<RoseException>(() => Checkpoint.Open(dir).Dispose());
        Assert.That(e!.Message, Does.Contain("'a'").And.Contain("model-00002-of-00002.safetensors").And.Contain("does not contain it"));
    }

    [Test]
    public void ShardNameEscapingTheFolderIsRejected()
    {
        var dir = Path.Combine(_temp.Path, "escape");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, Checkpoint.IndexFileName), "{\"weight_map\":{\"a\":\"../x.safetensors\"}}");
        var e = Assert.Throws<RoseException>(() => Checkpoint.Open(dir).Dispose());
        Assert.That(e!.Message, Does.Contain("not a plain file name"));
    }

    [Test]
    public void MissingTensorNamesFolderAndTensor()
    {
        var dir = Path.Combine(_temp.Path, "m");
        TensorSpec[] specs = [new("a", DType.F32, [4])];
        using (var writer = new CheckpointWriter(dir, CheckpointWriter.Plan(specs)))
            WriteAll(writer, specs);
        using var checkpoint = Checkpoint.Open(dir);
        Assert.That(checkpoint.Contains("a"), Is.True);
        Assert.That(checkpoint.Contains("zzz"), Is.False);
        var e = Assert.Throws<RoseException>(() => checkpoint.ReadFloat32("zzz"));
        Assert.That(e!.Message, Does.Contain(Path.GetFullPath(dir)).And.Contain("'zzz'"));
    }

    [Test]
    public void SingleOddlyNamedFileIsFound()
    {
        var dir = Path.Combine(_temp.Path, "odd");
        Directory.CreateDirectory(dir);
        using (var writer = new SafeTensorsFileWriter(Path.Combine(dir, "weights.safetensors"), [new TensorSpec("w", DType.F32, [2])]))
        {
            writer.WriteFloat32("w", [3f, 4f]);
            writer.Complete();
        }
        using var checkpoint = Checkpoint.Open(dir);
        Assert.That(checkpoint.ShardFiles, Is.EqualTo(new[] { "weights.safetensors" }));
        Assert.That(checkpoint.ReadFloat32("w"), Is.EqualTo(new[] { 3f, 4f }));
    }

    [Test]
    public void FolderWithoutWeightsIsRejected()
    {
        var dir = Path.Combine(_temp.Path, "none");
        Directory.CreateDirectory(dir);
        var e = Assert.Throws<RoseException>(() => Checkpoint.Open(dir).Dispose());
        Assert.That(e!.Message, Does.Contain(dir).And.Contain("no model.safetensors"));

        var missing = Assert.Throws<RoseException>(() => Checkpoint.Open(Path.Combine(_temp.Path, "nowhere")).Dispose());
        Assert.That(missing!.Message, Does.Contain("nowhere").And.Contain("not found"));
    }

    [Test]
    public void SeveralFilesWithoutIndexAreAmbiguous()
    {
        var dir = Path.Combine(_temp.Path, "two");
        Directory.CreateDirectory(dir);
        foreach (var name in new[] { "a.safetensors", "b.safetensors" })
        {
            using var writer = new SafeTensorsFileWriter(Path.Combine(dir, name), []);
            writer.Complete();
        }
        var e = Assert.Throws<RoseException>(() => Checkpoint.Open(dir).Dispose());
        Assert.That(e!.Message, Does.Contain("a.safetensors, b.safetensors"));
    }
}
