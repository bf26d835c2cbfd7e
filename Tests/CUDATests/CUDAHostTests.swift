import Tensors
import Testing
@testable import CUDA

/// The host side of the CUDA layer, on any machine: error mapping, cache keys, the missing-library
/// error. GPU runs skip with "no CUDA device" where there is none.
@Suite struct CUDAHostTests {
    @Test func driverCodesMapToKinds() {
        #expect(CUDAError.driver(100, function: "cuInit", name: "CUDA_ERROR_NO_DEVICE", message: "no CUDA-capable device is detected").kind == .noDevice)
        #expect(CUDAError.driver(2, function: "cuMemAlloc", name: "CUDA_ERROR_OUT_OF_MEMORY", message: "out of memory").kind == .outOfMemory)
        let e = CUDAError.driver(700, function: "cuStreamSynchronize", name: "CUDA_ERROR_ILLEGAL_ADDRESS", message: "an illegal memory access was encountered")
        #expect(e.kind == .call)
        #expect(e.description == "cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered")
        let compile = CUDAError(.compile, function: "nvrtcCompileProgram", code: 6, codeName: "NVRTC_ERROR_COMPILATION", message: "compiling k for sm_90", log: "k.cu(3): error: identifier \"x\" is undefined")
        #expect(compile.description.contains("compiler log:\nk.cu(3): error"))
    }

    @Test func cacheKeyNamesSourceArchitectureAndCompiler() {
        let kernel = "extern \"C\" __global__ void k(float* x) { x[0] = 1; }"
        let a = KernelCompiler.cacheKey(source: kernel, architecture: "sm_90", nvrtcVersion: (13, 0))
        #expect(a == KernelCompiler.cacheKey(source: kernel, architecture: "sm_90", nvrtcVersion: (13, 0)))
        #expect(a.hasSuffix("-sm_90-nvrtc13.0.cubin") && a.count == 16 + "-sm_90-nvrtc13.0.cubin".count)
        #expect(a != KernelCompiler.cacheKey(source: kernel + " ", architecture: "sm_90", nvrtcVersion: (13, 0)))
        #expect(a != KernelCompiler.cacheKey(source: kernel, architecture: "sm_80", nvrtcVersion: (13, 0)))
        #expect(a != KernelCompiler.cacheKey(source: kernel, architecture: "sm_90", nvrtcVersion: (12, 8)))
        // FNV-1a of the empty string is its offset basis: the hash is the documented one, stable across runs.
        #expect(KernelCompiler.cacheKey(source: "", architecture: "a", nvrtcVersion: (1, 2)) == "cbf29ce484222325-a-nvrtc1.2.cubin")
    }

    @Test func missingLibrariesGiveOneClearError() {
        #expect(throws: CUDAError.self) { try CUDALibraries.open(candidates: ["/nonexistent/libcuda.so.1"], what: "the CUDA driver") }
        do { _ = try CUDALibraries.open(candidates: ["/nonexistent/libcuda.so.1"], what: "the CUDA driver") } catch {
            #expect(error.kind == .libraryUnavailable && error.function == "dlopen")
            #expect(error.message.contains(CUDALibraries.pathVariable) && error.message.contains("/nonexistent/libcuda.so.1"), "\(error)")
        }
    }

    /// A library that loads but is not the one we declared (too old a driver) names the missing symbol.
    @Test func aMissingSymbolNamesIt() throws {
        let libc = try CUDALibraries.open(candidates: ["libc.so.6"], what: "libc")
        #expect { try CUDALibraries.declarations(in: libc) { (lib) throws(DynamicLibraryError) in try DriverAPI(lib) } } throws: { error in
            guard let error = error as? CUDAError else { return false }
            return error.kind == .libraryUnavailable && error.function == "cuInit" && error.message.contains("too old")
        }
        #expect { try CUDALibraries.declarations(in: libc) { (lib) throws(DynamicLibraryError) in try NVRTCAPI(lib) } } throws: { error in
            (error as? CUDAError)?.function == "nvrtcVersion"
        }
    }

    @Test func libraryCandidatesPutTheVariableFirst() {
        let names = CUDALibraries.driverNames
        #expect(Array(DynamicLibrary.candidates(names, in: CUDALibraries.folders()).suffix(names.count)) == names)
        #expect(CUDALibraries.folders().contains("/usr/local/cuda/lib64"))
    }

    @Test func withoutAGPUTheErrorSaysSo() throws {
        guard !GPUAvailability.present else { return }
        #expect { try CUDAContext(device: 0) } throws: { ($0 as? CUDAError).map { $0.kind == .noDevice || $0.kind == .libraryUnavailable } ?? false }
    }
}

enum GPUAvailability {
    static let present: Bool = (try? CUDA.shared()) != nil
}
