using System.Runtime.CompilerServices;

// Every binding is blittable (pointers and primitives), so no runtime marshalling is wanted.
[assembly: DisableRuntimeMarshalling]
