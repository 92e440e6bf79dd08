using Rose.Native.Interop;

namespace Rose.Native;

/// <summary>Library-level NVRTC queries.</summary>
public static unsafe class Nvrtc
{
    /// <summary>True when libnvrtc loads; otherwise <paramref name="why"/> says what was tried.</summary>
    public static bool TryLoad(out string why) => CudaLibraries.TryLoad(CudaLibrarySearch.Nvrtc, out why);

    public static Version Version
    {
        get
        {
            CudaLibraries.Require(CudaLibrarySearch.Nvrtc, nameof(NvrtcApi.nvrtcVersion));
            int major, minor;
            NvrtcApi.Check(NvrtcApi.nvrtcVersion(&major, &minor), nameof(NvrtcApi.nvrtcVersion));
            return new Version(major, minor);
        }
    }

    /// <summary>SM numbers NVRTC can emit CUBIN for (e.g. 80, 86, 90), ascending.</summary>
    public static IReadOnlyList<int> SupportedArchitectures
    {
        get
        {
            CudaLibraries.Require(CudaLibrarySearch.Nvrtc, nameof(NvrtcApi.nvrtcGetSupportedArchs));
            int count;
            NvrtcApi.Check(NvrtcApi.nvrtcGetNumSupportedArchs(&count), nameof(NvrtcApi.nvrtcGetNumSupportedArchs));
            var archs = new int[count];
            fixed (int* p = archs)
            {
                NvrtcApi.Check(NvrtcApi.nvrtcGetSupportedArchs(p), nameof(NvrtcApi.nvrtcGetSupportedArchs));
            }

            Array.Sort(archs);
            return archs;
        }
    }
}

/// <summary>An NVRTC program: source plus in-memory headers, compiled once with a set of options.</summary>
public sealed unsafe class NvrtcProgram : IDisposable
{
    private IntPtr _handle;

    /// <param name="source">CUDA C++ source text.</param>
    /// <param name="name">Program name used in diagnostics (e.g. "smoke.cu").</param>
    /// <param name="headers">Headers resolvable by <c>#include "name"</c> without any file system.</param>
    public NvrtcProgram(string source, string name, IReadOnlyList<KeyValuePair<string, string>>? headers = null)
    {
        CudaLibraries.Require(CudaLibrarySearch.Nvrtc, nameof(NvrtcApi.nvrtcCreateProgram));
        Name = name;
        headers ??= [];
        using var strings = new Utf8StringArena();
        var headerTexts = stackalloc byte*[Math.Max(headers.Count, 1)];
        var includeNames = stackalloc byte*[Math.Max(headers.Count, 1)];
        for (var i = 0; i < headers.Count; i++)
        {
            includeNames[i] = strings.Add(headers[i].Key);
            headerTexts[i] = strings.Add(headers[i].Value);
        }

        IntPtr handle;
        NvrtcApi.Check(NvrtcApi.nvrtcCreateProgram(&handle, strings.Add(source), strings.Add(name), headers.Count,
            headers.Count == 0 ? null : headerTexts, headers.Count == 0 ? null : includeNames), nameof(NvrtcApi.nvrtcCreateProgram));
        _handle = handle;
    }

    public string Name { get; }

    private IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle == IntPtr.Zero, this);
            return _handle;
        }
    }

    /// <summary>Compiles; returns false on a compile error (see <see cref="Log"/>), throws on any other failure.</summary>
    public bool Compile(IReadOnlyList<string> options)
    {
        using var strings = new Utf8StringArena();
        var pointers = stackalloc byte*[Math.Max(options.Count, 1)];
        for (var i = 0; i < options.Count; i++)
        {
            pointers[i] = strings.Add(options[i]);
        }

        var result = NvrtcApi.nvrtcCompileProgram(Handle, options.Count, pointers);
        if (result == NvrtcApi.NVRTC_ERROR_COMPILATION)
        {
            return false;
        }

        NvrtcApi.Check(result, nameof(NvrtcApi.nvrtcCompileProgram), Log);
        return true;
    }

    /// <summary>The compiler's log (warnings and errors); empty when it said nothing.</summary>
    public string Log
    {
        get
        {
            nuint size;
            NvrtcApi.Check(NvrtcApi.nvrtcGetProgramLogSize(Handle, &size), nameof(NvrtcApi.nvrtcGetProgramLogSize));
            var bytes = new byte[(int)size + 1];
            fixed (byte* p = bytes)
            {
                NvrtcApi.Check(NvrtcApi.nvrtcGetProgramLog(Handle, p), nameof(NvrtcApi.nvrtcGetProgramLog));
            }

            return System.Text.Encoding.UTF8.GetString(bytes).TrimEnd('\0').TrimEnd();
        }
    }

    /// <summary>PTX text as bytes, including its terminating NUL (what cuModuleLoadData wants).</summary>
    public byte[] GetPtx()
    {
        nuint size;
        NvrtcApi.Check(NvrtcApi.nvrtcGetPTXSize(Handle, &size), nameof(NvrtcApi.nvrtcGetPTXSize));
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes)
        {
            NvrtcApi.Check(NvrtcApi.nvrtcGetPTX(Handle, p), nameof(NvrtcApi.nvrtcGetPTX));
        }

        return bytes;
    }

    /// <summary>
    /// CUBIN bytes, or null when there is none: compiled for a virtual architecture
    /// (compute_XX), or an NVRTC older than 11.1 without nvrtcGetCUBIN.
    /// </summary>
    public byte[]? TryGetCubin()
    {
        try
        {
            nuint size;
            var result = NvrtcApi.nvrtcGetCUBINSize(Handle, &size);
            if (result != 0 || size == 0)
            {
                return null;
            }

            var bytes = new byte[(int)size];
            fixed (byte* p = bytes)
            {
                NvrtcApi.Check(NvrtcApi.nvrtcGetCUBIN(Handle, p), nameof(NvrtcApi.nvrtcGetCUBIN));
            }

            return bytes;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero)
        {
            return;
        }

        var handle = _handle;
        _handle = IntPtr.Zero;
        NvrtcApi.Check(NvrtcApi.nvrtcDestroyProgram(&handle), nameof(NvrtcApi.nvrtcDestroyProgram));
    }
}

/// <summary>NUL-terminated UTF-8 copies of strings in unmanaged memory, freed together.</summary>
internal sealed unsafe class Utf8StringArena : IDisposable
{
    private readonly List<IntPtr> _allocations = [];

    public byte* Add(string text)
    {
        var p = (byte*)System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8(text);
        _allocations.Add((IntPtr)p);
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _allocations)
        {
            System.Runtime.InteropServices.Marshal.FreeCoTaskMem(p);
        }

        _allocations.Clear();
    }
}
