using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using NUnit.Framework;
using Rose.Cuda;
using Rose.Native;

namespace Rose.Tests.Native;

[TestFixture]
public sealed class NvrtcCompileTests
{
    private string _cacheDir = "";

    [SetUp]
    public void SetUp() => _cacheDir = Path.Combine(Path.GetTempPath(), "rose-nvrtc-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_cacheDir))
        {
            Directory.Delete(_cacheDir, recursive: true);
        }
    }

    private static IEnumerable<string> EmbeddedKernels() => KernelSources.KernelFiles;

    [Test]
    public void EveryEmbeddedKernelCompilesToCubin(
        [ValueSource(nameof(EmbeddedKernels))] string kernel, [Values("sm_80", "sm_90")] string arch)
    {
        GpuTestEnvironment.RequireNvrtc();
        var compiled = new KernelCompiler(cache: null).Compile(kernel, arch);

        Assert.That(compiled.IsCubin, Is.True, $"{kernel} for {arch} gave PTX, not CUBIN");
        Assert.That(compiled.Architecture, Is.EqualTo(arch));
        Assert.That(compiled.Image.AsSpan(0, 4).ToArray(), Is.EqualTo(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }));
    }

    /// <summary>A GPU refuses a launch whose block needs more registers than an SM holds (65536), or more shared
    /// memory than 48 KB (static and dynamic together). Every kernel either declares __launch_bounds__ (ptxas
    /// then fits its registers to that many threads, and a launch of more is refused, by the CPU emulator too)
    /// or uses at most 64 registers, so any block of up to 1024 threads fits; and a kernel that takes dynamic
    /// shared memory holds no static shared memory, so the 48 KB its launches are checked against (by the
    /// backend and the emulator) is all its own. Read from ptxas's own report.</summary>
    [Test]
    public void EveryKernelFitsAnyBlockItMayBeLaunchedWith([ValueSource(nameof(EmbeddedKernels))] string kernel,
        [Values("sm_80", "sm_90")] string arch)
    {
        GpuTestEnvironment.RequireNvrtc();
        string source = KernelSources.Get(kernel);
        var bounded = Regex.Matches(source, @"__launch_bounds__\s*\([^)]*\)\s*(\w+)\s*\(").Select(m => m.Groups[1].Value).ToHashSet();
        bool dynamicShared = Regex.IsMatch(source, @"extern\s+__shared__");
        using var program = new NvrtcProgram(source, kernel, KernelSources.Headers);
        Assert.That(program.Compile([.. KernelCompiler.OptionsFor(arch), "--ptxas-options=-v"]), Is.True, program.Log);
        var usage = new Dictionary<string, (int Registers, int StaticShared)>();
        string? entry = null;
        foreach (var line in program.Log.Split('\n'))
        {
            var compiling = Regex.Match(line, @"Compiling entry function '(\w+)'");
            if (compiling.Success) entry = compiling.Groups[1].Value;
            var used = Regex.Match(line, @"Used (\d+) registers(?:, (\d+) bytes smem)?");
            if (used.Success && entry is not null)
                usage[entry] = (int.Parse(used.Groups[1].Value, CultureInfo.InvariantCulture),
                    used.Groups[2].Success ? int.Parse(used.Groups[2].Value, CultureInfo.InvariantCulture) : 0);
        }
        Assert.That(usage, Is.Not.Empty, $"ptxas reported no entry function for {kernel}:\n{program.Log}");
        foreach (var (name, (registers, staticShared)) in usage)
        {
            TestContext.Out.WriteLine($"{name}: {registers} registers, {staticShared} bytes static shared{(bounded.Contains(name) ? ", __launch_bounds__" : "")}");
            if (!bounded.Contains(name))
                Assert.That(registers, Is.LessThanOrEqualTo(64), $"{name} uses {registers} registers and declares no __launch_bounds__: a block of 1024 threads would not fit");
            if (dynamicShared)
                Assert.That(staticShared, Is.Zero, $"{name} takes dynamic shared memory and holds {staticShared} bytes of static shared memory besides");
            Assert.That(staticShared, Is.LessThanOrEqualTo(48 * 1024), $"{name}: static shared memory");
        }
    }

    [Test]
    public void NvrtcIsLoadedFromARealFileAndSupportsAmpereAndHopper()
    {
        GpuTestEnvironment.RequireNvrtc();

        Assert.That(Nvrtc.Version.Major, Is.GreaterThanOrEqualTo(11));
        Assert.That(Nvrtc.SupportedArchitectures, Does.Contain(80).And.Contain(90));
        Assert.That(CudaLibraries.LoadedFrom("nvrtc"), Does.StartWith("/").And.Contain("libnvrtc.so"));
    }

    /// <summary>The backend and the forward compile their files side by side: the same images, in the files' order,
    /// each cached as one compile would cache it; the first failing file's own error comes out.</summary>
    [Test]
    public void CompileAllGivesEachFilesImageInOrder()
    {
        GpuTestEnvironment.RequireNvrtc();
        string[] files = ["smoke.cu", "round.cu", "convert.cu", "residual.cu"];
        var parallel = new KernelCompiler(new KernelCache(_cacheDir));
        var images = parallel.CompileAll(files, "sm_90");

        Assert.That(images.Select(i => i.ProgramName), Is.EqualTo(files));
        Assert.That(parallel.NvrtcCompilations, Is.EqualTo(files.Length));
        var one = new KernelCompiler(cache: null);
        for (int i = 0; i < files.Length; i++)
            Assert.That(images[i].Image, Is.EqualTo(one.Compile(files[i], "sm_90").Image), files[i]);
        var again = new KernelCompiler(new KernelCache(_cacheDir)).CompileAll(files, "sm_90");
        Assert.That(again.All(i => i.FromCache), "every file was cached");

        var missing = Assert.Throws<RoseException>(() => parallel.CompileAll(["smoke.cu", "no_such_kernel.cu"], "sm_90"));
        Assert.That(missing!.Message, Does.Contain("no_such_kernel"));
    }

    [Test]
    public void CompileErrorCarriesTheFullLog()
    {
        GpuTestEnvironment.RequireNvrtc();
        const string broken = "extern \"C\" __global__ void broken(float* y) { y[0] = undefined_rose_symbol; }";

        var e = Assert.Throws<CudaException>(() => new KernelCompiler(cache: null).CompileSource(broken, "broken.cu", "sm_80"));

        Assert.That(e!.StatusName, Is.EqualTo("NVRTC_ERROR_COMPILATION"));
        Assert.That(e.Library, Is.EqualTo("nvrtc"));
        Assert.That(e.Detail, Does.Contain("undefined_rose_symbol"));
        Assert.That(e.Message, Does.Contain("broken.cu").And.Contain("undefined_rose_symbol"));
    }

    [Test]
    public void CommonHeaderResolvesThroughNvrtcHeadersOnly()
    {
        GpuTestEnvironment.RequireNvrtc();
        const string source = "#include \"rose_common.cuh\"\nextern \"C\" __global__ void k(unsigned short* o, float f) { o[0] = rose_float_to_bf16(f); }";

        var compiled = new KernelCompiler(cache: null).CompileSource(source, "uses_header.cu", "sm_80");
        var withoutHeaders = new KernelCompiler(cache: null, headers: []);

        Assert.That(compiled.IsCubin, Is.True);
        Assert.Throws<CudaException>(() => withoutHeaders.CompileSource(source, "uses_header.cu", "sm_80"));
    }

    [Test]
    public void CacheHitReturnsIdenticalBytesWithoutRecompiling()
    {
        GpuTestEnvironment.RequireNvrtc();
        var first = new KernelCompiler(new KernelCache(_cacheDir));
        var compiled = first.Compile("smoke.cu", "sm_80");

        var second = new KernelCompiler(new KernelCache(_cacheDir));
        var cached = second.Compile("smoke.cu", "sm_80");

        Assert.That(compiled.FromCache, Is.False);
        Assert.That(first.NvrtcCompilations, Is.EqualTo(1));
        Assert.That(cached.FromCache, Is.True);
        Assert.That(second.NvrtcCompilations, Is.Zero);
        Assert.That(cached.Image, Is.EqualTo(compiled.Image));
        Assert.That(cached.IsCubin, Is.EqualTo(compiled.IsCubin));
        Assert.That(cached.CacheKey, Is.EqualTo(compiled.CacheKey));
    }

    [Test]
    public void DifferentArchitectureIsADifferentCacheEntry()
    {
        GpuTestEnvironment.RequireNvrtc();
        var compiler = new KernelCompiler(new KernelCache(_cacheDir));

        var sm80 = compiler.Compile("smoke.cu", "sm_80");
        var sm90 = compiler.Compile("smoke.cu", "sm_90");

        Assert.That(sm90.FromCache, Is.False);
        Assert.That(sm90.CacheKey, Is.Not.EqualTo(sm80.CacheKey));
        Assert.That(compiler.NvrtcCompilations, Is.EqualTo(2));
    }

    [Test]
    public void CorruptCacheEntryIsRecompiled()
    {
        GpuTestEnvironment.RequireNvrtc();
        var cache = new KernelCache(_cacheDir);
        var original = new KernelCompiler(cache).Compile("smoke.cu", "sm_90");
        File.WriteAllBytes(cache.PathFor(original.CacheKey), Encoding.ASCII.GetBytes("not a kernel"));

        var compiler = new KernelCompiler(cache);
        var rebuilt = compiler.Compile("smoke.cu", "sm_90");

        Assert.That(rebuilt.FromCache, Is.False);
        Assert.That(compiler.NvrtcCompilations, Is.EqualTo(1));
        Assert.That(rebuilt.Image, Is.EqualTo(original.Image));
        Assert.That(cache.TryRead(original.CacheKey, out _, out _), Is.True);
    }

    [Test]
    public void ArchitectureNewerThanNvrtcKnowsFallsBackToPtxOfTheNewestSupported()
    {
        GpuTestEnvironment.RequireNvrtc();
        var newest = Nvrtc.SupportedArchitectures.Max();

        var compiled = new KernelCompiler(cache: null).Compile("smoke.cu", $"sm_{newest + 1000}");

        Assert.That(compiled.IsCubin, Is.False);
        Assert.That(compiled.Architecture, Is.EqualTo($"compute_{newest}"));
        Assert.That(Encoding.ASCII.GetString(compiled.Image), Does.Contain($".target sm_{newest}").And.Contain("rose_smoke_axpy"));
    }

    [TestCase("sm_90", new[] { 75, 80, 90 }, "sm_90", true)]
    [TestCase("sm_86", new[] { 75, 80, 90 }, "sm_80", true)]
    [TestCase("sm_89", new[] { 75, 80, 86, 90 }, "sm_86", true)]
    [TestCase("sm_100", new[] { 75, 80, 90 }, "compute_90", false)]
    [TestCase("sm_120", new[] { 75, 80, 90 }, "compute_90", false)]
    [TestCase("compute_80", new[] { 75, 80, 90 }, "compute_80", false)]
    public void ArchitectureResolution(string requested, int[] supported, string target, bool cubin) =>
        Assert.That(KernelCompiler.ResolveArchitecture(requested, supported), Is.EqualTo((target, cubin)));

    [TestCase("sm_70")]
    [TestCase("gfx90a")]
    [TestCase("sm_")]
    public void UnusableArchitectureIsARoseException(string requested) =>
        Assert.Throws<RoseException>(() => KernelCompiler.ResolveArchitecture(requested, [75, 80, 90]));

    [Test]
    public void OptionsNeverAskForFastMath()
    {
        var options = KernelCompiler.OptionsFor("sm_90");

        Assert.That(options, Does.Contain("--gpu-architecture=sm_90").And.Contain("-std=c++17").And.Contain("--ftz=false"));
        Assert.That(options, Has.None.Contains("fast_math").And.None.Contains("fast-math"));
    }
}
