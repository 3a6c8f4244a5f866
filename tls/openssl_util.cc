#include "tls/openssl_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "openssl/bn.h"
#include "openssl/ec.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509v3.h"

namespace brisk::tls::internal {
namespace {

// Certificate, key and CA files are small; anything larger is a mistake.
constexpr size_t kMaxFileBytes = 1 << 20;

UniqueBio MemBio(std::string_view bytes) {
  return UniqueBio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// Printable ASCII as is, anything else as \xHH: SAN strings end up in logs.
std::string Printable(const unsigned char* data, int size) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(size > 0 ? static_cast<size_t>(size) : 0);
  for (int i = 0; i < size; ++i) {
    const unsigned char c = data[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out.append({'\\', 'x', kHex[c >> 4], kHex[c & 15]});
    }
  }
  return out;
}

std::string HexLower(const unsigned char* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

// Refuses to prompt for a passphrase: encrypted keys fail to parse.
int NoPassphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::string TakeOpenSslErrors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long e =
             ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (!out.empty()) out.append("; ");
    const char* reason = ERR_reason_error_string(e);
    if (reason != nullptr) {
      out.append(reason);
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      out.append(buf);
    }
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      absl::StrAppend(&out, " (", data, ")");
    }
  }
  return out;
}

absl::StatusOr<std::string> ReadFileToString(absl::string_view what,
                                             const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no ", what, " given"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read ", what, " '", path, "': ", std::strerror(errno)));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot read ", what, " '", path, "': ", std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileBytes) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(
          what, " '", path, "' is larger than ", kMaxFileBytes, " bytes"));
    }
  }
  ::close(fd);
  return out;
}

absl::Status CheckPemBlocksComplete(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  constexpr std::string_view kEnd = "-----END ";
  int block = 0;
  std::string_view open;  // the BEGIN line of the block being read
  auto cut_off = [&](std::string_view line) {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM block ", block, " (\"", std::string(line),
                     "\") is cut off: no -----END line follows it (a file still being written?)"));
  };
  while (!pem.empty()) {
    const size_t eol = pem.find('\n');
    const bool last = eol == std::string_view::npos;  // and unterminated
    std::string_view line = pem.substr(0, eol);
    pem.remove_prefix(last ? pem.size() : eol + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    const bool begin_line = line.starts_with(kBegin) && line.size() > 16 && line.ends_with("-----");
    const bool end_line = line.starts_with(kEnd) && line.size() > 14 && line.ends_with("-----");
    if (last && !begin_line && !end_line && !line.empty() &&
        (kBegin.starts_with(line) || line.starts_with(kBegin) || kEnd.starts_with(line) ||
         line.starts_with(kEnd))) {
      // The file ends inside a BEGIN line ("-----BEGIN CERTIFICA", "---")
      // or inside the END line of the block being read.
      if (open.empty()) {
        ++block;
        return cut_off(line);
      }
      return cut_off(open);
    }
    if (begin_line) {
      if (!open.empty()) return cut_off(open);  // the block before never ended
      ++block;
      open = line;
    } else if (end_line) {
      open = {};  // whether it matches its BEGIN is OpenSSL's to judge
    }
    // Any other line: base64, headers, or text around the blocks, which
    // OpenSSL skips (RFC 7468 §5.2), a BEGIN-like comment included.
  }
  return open.empty() ? absl::OkStatus() : cut_off(open);
}

absl::StatusOr<std::vector<UniqueX509>> ParsePemCertificates(
    std::string_view pem) {
  if (absl::Status complete = CheckPemBlocksComplete(pem); !complete.ok()) {
    return complete;
  }
  ERR_clear_error();
  std::vector<UniqueX509> certs;
  UniqueBio bio = MemBio(pem);
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  for (;;) {
    UniqueX509 cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (cert == nullptr) break;
    certs.push_back(std::move(cert));
  }
  // The loop ends on "no start line" at the end of the input; any other
  // error means a block that is there but broken.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM &&
                         ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (last != 0 && !clean_end) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate ", certs.size() + 1,
        " does not parse: ", TakeOpenSslErrors()));
  }
  ERR_clear_error();
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        "no PEM certificate (-----BEGIN CERTIFICATE-----) found");
  }
  return certs;
}

absl::StatusOr<UniqueEvpPkey> ParsePemPrivateKey(std::string_view pem) {
  ERR_clear_error();
  UniqueBio bio = MemBio(pem);
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  UniqueEvpPkey key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no usable PEM private key (encrypted keys are not supported): ",
        TakeOpenSslErrors()));
  }
  return key;
}

std::string NameToString(const X509_NAME* name) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || name == nullptr) return std::string();
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return BioToString(bio.get());
}

std::string DescribeKey(const EVP_PKEY* key) {
  if (key == nullptr) return "none";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return absl::StrCat("RSA ", EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
        return "ECDSA";
      }
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      return absl::StrCat("ECDSA ", nist != nullptr ? nist : group);
    }
    default: {
      const char* type = EVP_PKEY_get0_type_name(key);
      return type != nullptr ? type : "unknown";
    }
  }
}

absl::Time Asn1TimeToAbsl(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

PeerIdentity IdentityFromCertificate(X509* cert) {
  PeerIdentity id;
  if (cert == nullptr) return id;
  id.subject = NameToString(X509_get_subject_name(cert));
  id.issuer = NameToString(X509_get_issuer_name(cert));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      id.serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) == 1) {
    id.sha256_fingerprint = HexLower(md, md_len);
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      int type = 0;
      void* raw = GENERAL_NAME_get0_value(name, &type);
      // Only these four types hold an ASN1_STRING (IA5String, OCTET STRING).
      if (raw == nullptr || (type != GEN_DNS && type != GEN_URI &&
                             type != GEN_EMAIL && type != GEN_IPADD)) {
        continue;
      }
      const auto* value = static_cast<const ASN1_STRING*>(raw);
      const unsigned char* data = ASN1_STRING_get0_data(value);
      const int len = ASN1_STRING_length(value);
      switch (type) {
        case GEN_DNS:
          id.dns_names.push_back(Printable(data, len));
          break;
        case GEN_URI:
          id.uris.push_back(Printable(data, len));
          break;
        case GEN_EMAIL:
          id.emails.push_back(Printable(data, len));
          break;
        case GEN_IPADD: {
          char text[INET6_ADDRSTRLEN] = {0};
          if ((len == 4 && inet_ntop(AF_INET, data, text, sizeof(text))) ||
              (len == 16 && inet_ntop(AF_INET6, data, text, sizeof(text)))) {
            id.ip_addresses.push_back(text);
          }
          break;
        }
        default:
          break;
      }
    }
    GENERAL_NAMES_free(names);
  }
  ERR_clear_error();
  return id;
}

}  // namespace brisk::tls::internal
