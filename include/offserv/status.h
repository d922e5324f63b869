/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file status.h
 * @brief HRESULT-valued statuses shared by every offserv API.
 *
 * Every fallible offserv function returns an ::offserv_status.  Its values
 * are Windows HRESULTs, because the exit codes of DISM and the messages of
 * Configuration Manager's OfflineServicingMgr.log are HRESULTs, and scripts
 * match them.  0 (::OFFSERV_OK) is success; a value with the high bit set is
 * a failure.  Win32 errors are wrapped as 0x8007xxxx (FACILITY_WIN32).
 *
 * Values are never renumbered; new ones are only added.
 */
#ifndef OFFSERV_STATUS_H
#define OFFSERV_STATUS_H

#include <stdint.h>

#include <offserv/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An HRESULT.  Unsigned so that it prints naturally with "0x%08x". */
typedef uint32_t offserv_status;

/** True when @p s is a failure HRESULT (severity bit set). */
#define OFFSERV_FAILED(s) (((uint32_t)(s) & 0x80000000u) != 0)
/** True when @p s is a success (including S_FALSE-like codes). */
#define OFFSERV_SUCCEEDED(s) (!OFFSERV_FAILED(s))

/** Wrap a Win32 error code as an HRESULT (HRESULT_FROM_WIN32). */
#define OFFSERV_HR_WIN32(code)                                                 \
	((code) == 0 ? 0u : (0x80070000u | ((uint32_t)(code) & 0xffffu)))

/* Success codes. */
#define OFFSERV_OK 0x00000000u /**< S_OK */
/** ERROR_SUCCESS_REBOOT_REQUIRED as a success: the change needs a restart. */
#define OFFSERV_S_REBOOT_REQUIRED 0x00000bc2u

/* Generic COM errors. */
#define OFFSERV_E_FAIL 0x80004005u        /**< E_FAIL: unspecified failure */
#define OFFSERV_E_NOTIMPL 0x80004001u     /**< E_NOTIMPL: not implemented */
#define OFFSERV_E_ABORT 0x80004004u       /**< E_ABORT: cancelled by the caller */
#define OFFSERV_E_UNEXPECTED 0x8000ffffu  /**< E_UNEXPECTED: internal error */

/* Win32 errors, wrapped. */
#define OFFSERV_E_FILE_NOT_FOUND 0x80070002u  /**< ERROR_FILE_NOT_FOUND */
#define OFFSERV_E_PATH_NOT_FOUND 0x80070003u  /**< ERROR_PATH_NOT_FOUND */
#define OFFSERV_E_ACCESS_DENIED 0x80070005u   /**< ERROR_ACCESS_DENIED */
#define OFFSERV_E_OUTOFMEMORY 0x8007000eu     /**< E_OUTOFMEMORY */
#define OFFSERV_E_INVALID_DATA 0x8007000du    /**< ERROR_INVALID_DATA */
#define OFFSERV_E_WRITE_FAULT 0x8007001du     /**< ERROR_WRITE_FAULT */
#define OFFSERV_E_READ_FAULT 0x8007001eu      /**< ERROR_READ_FAULT */
#define OFFSERV_E_SHARING_VIOLATION 0x80070020u /**< ERROR_SHARING_VIOLATION */
#define OFFSERV_E_HANDLE_EOF 0x80070026u      /**< ERROR_HANDLE_EOF */
#define OFFSERV_E_NOT_SUPPORTED 0x80070032u   /**< ERROR_NOT_SUPPORTED */
#define OFFSERV_E_FILE_EXISTS 0x80070050u     /**< ERROR_FILE_EXISTS */
#define OFFSERV_E_INVALIDARG 0x80070057u      /**< E_INVALIDARG / ERROR_INVALID_PARAMETER (87) */
#define OFFSERV_E_DISK_FULL 0x80070070u       /**< ERROR_DISK_FULL */
#define OFFSERV_E_INVALID_NAME 0x8007007bu    /**< ERROR_INVALID_NAME (123) */
#define OFFSERV_E_BAD_PATHNAME 0x800700a1u    /**< ERROR_BAD_PATHNAME (161) */
#define OFFSERV_E_ALREADY_EXISTS 0x800700b7u  /**< ERROR_ALREADY_EXISTS */
#define OFFSERV_E_BUSY 0x800700aau            /**< ERROR_BUSY: locked by another job */
#define OFFSERV_E_BAD_FORMAT 0x8007000bu      /**< ERROR_BAD_FORMAT */
#define OFFSERV_E_CRC 0x80070017u             /**< ERROR_CRC: data error (checksum) */
#define OFFSERV_E_BAD_CONFIG 0x8007064au      /**< ERROR_BAD_CONFIGURATION (1610) */
#define OFFSERV_E_MOD_NOT_FOUND 0x8007007eu   /**< ERROR_MOD_NOT_FOUND: plugin missing */
#define OFFSERV_E_PROC_NOT_FOUND 0x8007007fu  /**< ERROR_PROC_NOT_FOUND: symbol missing */
#define OFFSERV_E_OLD_WIN_VERSION 0x8007047eu /**< ERROR_OLD_WIN_VERSION: ABI too old/new */
#define OFFSERV_E_CANCELLED 0x800704c7u       /**< ERROR_CANCELLED */
#define OFFSERV_E_FILE_CORRUPT 0x80070570u    /**< ERROR_FILE_CORRUPT */
#define OFFSERV_E_NOT_FOUND 0x80070490u       /**< ERROR_NOT_FOUND */

/* CBS (component based servicing) errors, FACILITY 0x0f. */
#define OFFSERV_CBS_E_INVALID_PACKAGE 0x800f0805u     /**< not a valid Windows package */
#define OFFSERV_CBS_E_PENDING 0x800f0806u             /**< pending operations block this */
#define OFFSERV_CBS_E_UNKNOWN_UPDATE 0x800f080cu      /**< the package identity is not known */
#define OFFSERV_CBS_E_NOT_APPLICABLE 0x800f081eu      /**< the package is not applicable */
#define OFFSERV_CBS_E_SOURCE_MISSING 0x800f081fu      /**< the source files could not be found */
#define OFFSERV_CBS_E_NEW_SERVICING_STACK_REQUIRED 0x800f0823u /**< newer servicing stack required */
#define OFFSERV_CBS_E_CANNOT_UNINSTALL 0x800f0825u    /**< the package cannot be removed */
#define OFFSERV_CBS_E_IMAGE_UNSERVICEABLE 0x800f0830u /**< the image is corrupt */
#define OFFSERV_CBS_E_STORE_CORRUPTION 0x800f0831u    /**< the component store is damaged */
#define OFFSERV_CBS_E_XML_PARSER_FAILURE 0x800f0900u  /**< a manifest is not valid XML */
#define OFFSERV_CBS_E_INSTALLERS_FAILED 0x800f0922u   /**< installers failed */

/* Side-by-side (component store) errors. */
#define OFFSERV_SXS_E_FILE_HASH_MISMATCH 0x800736ccu  /**< ERROR_SXS_FILE_HASH_MISMATCH */
#define OFFSERV_SXS_E_COMPONENT_STORE_CORRUPT 0x80073712u /**< ERROR_SXS_COMPONENT_STORE_CORRUPT */
#define OFFSERV_SXS_E_MANIFEST_PARSE_ERROR 0x8007370du /**< ERROR_SXS_MANIFEST_PARSE_ERROR */

/* DISM's own. */
#define OFFSERV_DISMAPI_E_UNMOUNT_INCOMPLETE 0xc1420117u /**< directory not completely unmounted */

/**
 * Text of a status, for logs and messages.
 *
 * Never returns NULL: an unknown code gives a generic text that includes no
 * allocation.  The returned string is static.
 */
OFFSERV_API const char *offserv_strerror(offserv_status status);

/**
 * Symbolic name of a status (e.g. "CBS_E_NOT_APPLICABLE"), as DISM and CBS
 * write it in their logs.  Never NULL; "UNKNOWN" for an unlisted code.
 */
OFFSERV_API const char *offserv_status_name(offserv_status status);

/** Map an errno value to the closest Win32 HRESULT. */
OFFSERV_API offserv_status offserv_status_from_errno(int errnum);

/**
 * The Win32 code inside a FACILITY_WIN32 HRESULT, or -1 when @p status is
 * not one.  DISM prints such errors in decimal ("Error: 87").
 */
OFFSERV_API int offserv_status_win32_code(offserv_status status);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_STATUS_H */
