using NUnit.Framework;
using Rose.Native;

namespace Rose.Tests.Native;

[TestFixture]
public sealed class CudaLibrarySearchTests
{
    /// <summary>A fake file system: the listed directories exist, nothing else does.</summary>
    private static LibrarySearchEnvironment FakeEnvironment(Dictionary<string, string?> variables, params string[] directories)
    {
        var set = new HashSet<string>(directories, StringComparer.Ordinal);
        return new LibrarySearchEnvironment(
            name => variables.GetValueOrDefault(name),
            set.Contains,
            (parent, pattern) =>
            {
                var prefix = pattern.TrimEnd('*');
                return set.Where(d => Path.GetDirectoryName(d) == parent && Path.GetFileName(d).StartsWith(prefix, StringComparison.Ordinal));
            },
            IsWindows: false);
    }

    [Test]
    public void VersionedSonamesComeBeforeTheUnversionedLink()
    {
        Assert.That(CudaLibrarySearch.FileNames("nvrtc", false),
            Is.EqualTo(new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so" }));
        Assert.That(CudaLibrarySearch.FileNames("cuda", false)[0], Is.EqualTo("libcuda.so.1"));
        Assert.That(CudaLibrarySearch.FileNames("cublas", false).Take(2), Is.EqualTo(new[] { "libcublas.so.13", "libcublas.so.12" }));
        Assert.That(CudaLibrarySearch.FileNames("cusolver", false).Take(2), Is.EqualTo(new[] { "libcusolver.so.12", "libcusolver.so.11" }));
    }

    [Test]
    public void UnknownLibraryNameIsRejected() =>
        Assert.Throws<ArgumentException>(() => CudaLibrarySearch.FileNames("cudnn", false));

    [Test]
    public void SearchOrderIsExplicitDirThenToolkitsNewestFirstThenLoaderThenDebianThenWheels()
    {
        var env = FakeEnvironment(
            new()
            {
                ["ROSE_CUDA_LIB_DIR"] = "/opt/mine",
                ["CUDA_PATH"] = "/opt/cuda-path",
                ["HOME"] = "/home/u",
                ["PATH"] = "/srv/venv/bin:/usr/bin",
            },
            "/usr/local/cuda", "/usr/local/cuda-11.8", "/usr/local/cuda-12.10", "/usr/local/cuda-12.9", "/usr/local/cuda-13.0",
            "/srv/venv/lib/python3.12", "/srv/venv/lib/python3.12/site-packages", "/srv/venv/lib/python3.12/site-packages/nvidia",
            "/srv/venv/lib/python3.12/site-packages/nvidia/cu13", "/srv/venv/lib/python3.12/site-packages/nvidia/cublas");

        var dirs = CudaLibrarySearch.Directories("nvrtc", env);

        Assert.That(dirs, Is.EqualTo(new string?[]
        {
            "/opt/mine",
            "/opt/cuda-path/lib64", "/opt/cuda-path/lib",
            "/usr/local/cuda-13.0/lib64", "/usr/local/cuda-12.10/lib64", "/usr/local/cuda-12.9/lib64", "/usr/local/cuda-11.8/lib64",
            "/usr/local/cuda/lib64",
            null,
            "/usr/lib/x86_64-linux-gnu",
            "/srv/venv/lib/python3.12/site-packages/nvidia/cu13/lib",
            "/srv/venv/lib/python3.12/site-packages/nvidia/cublas/lib",
        }));
    }

    [Test]
    public void CandidatesTryEverySonameInADirectoryBeforeTheNextDirectory()
    {
        var env = FakeEnvironment(new() { ["ROSE_CUDA_LIB_DIR"] = "/opt/mine" });

        var candidates = CudaLibrarySearch.Candidates("nvrtc", env).Take(6).ToArray();

        Assert.That(candidates, Is.EqualTo(new[]
        {
            "/opt/mine/libnvrtc.so.13", "/opt/mine/libnvrtc.so.12", "/opt/mine/libnvrtc.so.11.2", "/opt/mine/libnvrtc.so",
            "libnvrtc.so.13", "libnvrtc.so.12",
        }));
    }

    [Test]
    public void DriverPrefersTheLoadersCopyOverToolkitFoldersAndSkipsWheels()
    {
        var env = FakeEnvironment(new() { ["CUDA_HOME"] = "/opt/cuda", ["VIRTUAL_ENV"] = "/srv/venv" },
            "/usr/local/cuda-13.0", "/srv/venv/lib/python3.12", "/srv/venv/lib/python3.12/site-packages/nvidia");

        var dirs = CudaLibrarySearch.Directories("cuda", env);

        Assert.That(dirs[0], Is.Null);
        Assert.That(dirs, Does.Contain("/usr/local/cuda-13.0/lib64"));
        Assert.That(dirs.Where(d => d is not null && d.Contains("site-packages")), Is.Empty);
    }

    [Test]
    public void WheelFoldersAreFoundThroughVirtualEnvAndUserSite()
    {
        var env = FakeEnvironment(new() { ["VIRTUAL_ENV"] = "/srv/venv", ["HOME"] = "/home/u" },
            "/srv/venv/lib/python3.11", "/srv/venv/lib/python3.11/site-packages/nvidia",
            "/home/u/.local/lib/python3.12", "/home/u/.local/lib/python3.12/site-packages/nvidia",
            "/home/u/.local/lib/python3.12/site-packages/nvidia/cusolver");

        var dirs = CudaLibrarySearch.Directories("cusolver", env).ToList();

        Assert.That(dirs, Does.Contain("/srv/venv/lib/python3.11/site-packages/nvidia/cu13/lib"));
        Assert.That(dirs, Does.Contain("/home/u/.local/lib/python3.12/site-packages/nvidia/cusolver/lib"));
        Assert.That(dirs.IndexOf("/srv/venv/lib/python3.11/site-packages/nvidia/cu13/lib"),
            Is.LessThan(dirs.IndexOf("/home/u/.local/lib/python3.12/site-packages/nvidia/cusolver/lib")));
    }

    [Test]
    public void MissingLibraryReportsWhatWasTriedAndIsNotRecordedAsLoaded()
    {
        // cusolver is not installed on CPU-only machines; where it is, the load must be recorded instead.
        if (CudaLibraries.TryLoad("cusolver", out var why))
        {
            Assert.That(CudaLibraries.LoadedFrom("cusolver"), Does.Contain("libcusolver"));
        }
        else
        {
            Assert.That(why, Does.Contain("libcusolver.so.12"));
            Assert.That(CudaLibraries.LoadedFrom("cusolver"), Is.Null);
        }
    }
}
